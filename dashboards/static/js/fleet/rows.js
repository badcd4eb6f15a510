// Pure: the fleet table's rows from the live summaries (and hosts only the REST list knows),
// their order (problems first by default), the filter by status and name, and the counts.

// The statuses a row can be filtered by; "all" keeps every row.
export const FILTERS = ["all", "firing", "pending", "stale", "up"];

// A summary as the backend sends it (`{"type":"summaries"}`, docs/live-protocol.md) → a row.
export function rowFromSummary(s) {
  return {
    name: s.host,
    status: s.status === "stale" ? "stale" : "up",
    firing: s.firing || 0,
    pending: s.pending || 0,
    cpu: s.cpu ?? null,
    mem: s.mem ?? null,
    memUsed: s.mem_used ?? null,
    load: s.load ?? null,
    top: s.top || null,
    seenMs: s.seen_ms || 0,
  };
}

// A host the REST list knows but no summary has covered yet: its status from the last seen time.
export function rowFromListed(name, lastSeenMs, staleAfterMs, now) {
  return {
    name, status: now - lastSeenMs > staleAfterMs ? "stale" : "up", firing: 0, pending: 0,
    cpu: null, mem: null, memUsed: null, load: null, top: null, seenMs: lastSeenMs,
  };
}

// summaries: Map name → summary; listed: Map name → last seen ms (the REST list)
export function fleetRows(summaries, listed, staleAfterMs, now) {
  const rows = [];
  for (const summary of summaries.values()) rows.push(rowFromSummary(summary));
  for (const [name, lastSeenMs] of listed) {
    if (!summaries.has(name)) rows.push(rowFromListed(name, lastSeenMs, staleAfterMs, now));
  }
  return rows;
}

// Problems first: firing, then stale, then the busiest CPU.
function problemRank(row) {
  if (row.firing > 0) return 0;
  if (row.status === "stale") return 1;
  return 2;
}

const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

// Missing numbers sort last whatever the direction.
function numeric(field) {
  return (a, b, sign) => {
    const x = a[field];
    const y = b[field];
    if (x == null || y == null) return x == null ? (y == null ? 0 : 1) : -1;
    return sign * (x - y);
  };
}

// Each column's comparison; `sign` is 1 for ascending, -1 for descending.
export const SORTS = {
  problems: (a, b) => problemRank(a) - problemRank(b) || b.firing - a.firing || numeric("cpu")(a, b, -1),
  name: (a, b, sign) => sign * byName(a, b),
  status: (a, b, sign) => sign * (problemRank(a) - problemRank(b)),
  cpu: numeric("cpu"),
  mem: (a, b, sign) => numeric("mem")(a, b, sign) || numeric("memUsed")(a, b, sign),
  load: numeric("load"),
  alerts: (a, b, sign) => sign * (a.firing - b.firing || a.pending - b.pending),
  seen: numeric("seenMs"),
};

// The direction a column starts with when clicked: numbers biggest first, names A→Z.
export function defaultDescending(key) {
  return !["name", "status", "problems"].includes(key);
}

function matches(row, filter) {
  switch (filter) {
    case "firing": return row.firing > 0;
    case "pending": return row.pending > 0;
    case "stale": return row.status === "stale";
    case "up": return row.status === "up";
    default: return true;
  }
}

// → {rows (filtered, sorted), counts (of every row, before the filter)}
export function arrange(rows, { sort = "problems", descending = false, filter = "all", search = "" } = {}) {
  const counts = countByStatus(rows);
  const needle = search.trim().toLowerCase();
  const compare = SORTS[sort] || SORTS.problems;
  const sign = descending ? -1 : 1;
  const shown = rows.filter((row) => matches(row, filter) && (!needle || row.name.toLowerCase().includes(needle)));
  shown.sort((a, b) => compare(a, b, sign) || byName(a, b));
  return { rows: shown, counts };
}

export function countByStatus(rows) {
  const counts = { all: rows.length, firing: 0, pending: 0, stale: 0, up: 0 };
  for (const row of rows) {
    if (row.firing > 0) counts.firing++;
    if (row.pending > 0) counts.pending++;
    counts[row.status]++;
  }
  return counts;
}
