// Units on every number: percentages, binary byte sizes, byte rates, counts and times.

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function formatBytes(value) {
  if (value == null || !Number.isFinite(value)) return "—";
  let v = Math.abs(value);
  let i = 0;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) { v /= 1024; i++; }
  const sign = value < 0 ? "-" : "";
  const digits = v >= 100 || (i === 0 && Number.isInteger(v)) ? 0 : 1;
  return `${sign}${v.toFixed(digits)} ${BYTE_UNITS[i]}`;
}

export function formatRate(value) {
  return value == null || !Number.isFinite(value) ? "—" : `${formatBytes(value)}/s`;
}

// A 0..1 ratio as a percentage.
export function formatPercent(ratio, digits = 1) {
  return ratio == null || !Number.isFinite(ratio) ? "—" : `${(ratio * 100).toFixed(digits)} %`;
}

export function formatCount(value) {
  if (value == null || !Number.isFinite(value)) return "—";
  // Small fractional values (axis ticks, rates) keep a decimal; counts read as whole numbers.
  if (Math.abs(value) < 10 && !Number.isInteger(value)) return value.toFixed(1);
  return Math.round(value).toLocaleString("en-US");
}

export function formatTime(value) {
  if (value == null) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "—" : date.toLocaleString();
}

// As alert rules see a value: no unit.
export function formatValue(value) {
  return value == null ? "—" : Number(value).toPrecision(4);
}

export function formatAge(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}
