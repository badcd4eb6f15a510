"""`auth:` settings: sessions, the login cookie and the first admin taken from the environment."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from backend.auth.passwords import PasswordPolicyError, check_password_policy
from conventions.settings_sources import Duration


class AuthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    session_ttl: Duration = 12 * 3600.0
    cookie_name: str = Field(default="hostpulse_session", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    # Turn on whenever the UI is served over HTTPS (it should be, outside a laptop).
    cookie_secure: bool = False
    # Created at start-up when no user by that name exists (HOSTPULSE_AUTH__INITIAL_ADMIN_USER /
    # _PASSWORD). There is no default password anywhere.
    initial_admin_user: str | None = Field(default=None, min_length=1, max_length=100)
    initial_admin_password: SecretStr | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _admin_pair(self) -> AuthSettings:
        has_user = self.initial_admin_user is not None
        has_password = self.initial_admin_password is not None
        if has_user != has_password:
            missing = "initial_admin_password" if has_user else "initial_admin_user"
            raise ValueError(f"{missing} must be set together with the other initial_admin_* field")
        if self.initial_admin_password is not None:
            try:
                check_password_policy(self.initial_admin_password.get_secret_value())
            except PasswordPolicyError as exc:
                raise ValueError(f"initial_admin_password: {exc}") from None
        return self
