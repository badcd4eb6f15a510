"""What the rest of the backend knows about a user: a name and a role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

Role = Literal["admin", "viewer"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
