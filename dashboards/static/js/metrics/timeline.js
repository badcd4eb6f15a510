// Pure data: a host's samples turned into time-aligned rows of what the host view draws.
// Counters (disk and network bytes) become per-second rates here, per device, then summed.

// No prototype: a metric called "constructor" finds nothing. With `label`, only its `only` series.
const GAUGE_FIELDS = {
  __proto__: null,
  system_memory_usage_bytes: { field: "memUsed", label: "system_memory_state", only: "used" },
  system_linux_memory_available_bytes: { field: "memAvailable" },
  system_memory_limit_bytes: { field: "memLimit" },
  system_paging_usage_bytes: { field: "swapUsed", label: "system_paging_state", only: "used" },
  hostpulse_system_threads: { field: "threads" },
  system_linux_file_handle_usage: { field: "handles" },
};
const RATE_FIELDS = {
  __proto__: null,
  system_disk_io_bytes_total: { label: "disk_io_direction", fields: { read: "diskRead", write: "diskWrite" }, series: "system_device" },
  system_network_io_bytes_total: { label: "network_io_direction", fields: { receive: "netRx", transmit: "netTx" }, series: "network_interface_name" },
};

function row(times, rows, t) {
  let r = rows.get(t);
  if (!r) {
    r = { cores: [], modes: {} };
    rows.set(t, r);
    // Frames arrive in time order: appending is the common case.
    if (times.length === 0 || times[times.length - 1] < t) times.push(t);
    else {
      let i = times.length;
      while (i > 0 && times[i - 1] > t) i--;
      times.splice(i, 0, t);
    }
  }
  return r;
}

export class HostTimeline {
  constructor(windowMs = 5 * 60 * 1000) {
    this.windowMs = windowMs;
    this.times = [];
    this.rows = new Map();
    this.lastCounter = new Map();
    this.coreCount = 0;
  }

  add(samples) {
    const ordered = samples.length > 1 && samples[0].time_ms > samples[samples.length - 1].time_ms
      ? [...samples].sort((a, b) => a.time_ms - b.time_ms) : samples;
    for (const s of ordered) this.addOne(s);
    this.trim();
  }

  addOne(s) {
    const labels = s.labels || {};
    if (s.name === "system_cpu_utilization_ratio") {
      const r = row(this.times, this.rows, s.time_ms);
      if (labels.cpu_logical_number != null) {
        const core = Number(labels.cpu_logical_number);
        r.cores[core] = s.value;
        if (core + 1 > this.coreCount) this.coreCount = core + 1;
      } else if (labels.cpu_mode != null) r.modes[labels.cpu_mode] = s.value;
      return;
    }
    const gauge = GAUGE_FIELDS[s.name];
    if (gauge) {
      if (!gauge.label || labels[gauge.label] === gauge.only) row(this.times, this.rows, s.time_ms)[gauge.field] = s.value;
      return;
    }
    const rate = RATE_FIELDS[s.name];
    if (rate) this.addRate(rate, s, labels);
  }

  addRate(spec, s, labels) {
    const field = spec.fields[labels[spec.label]];
    if (!field) return;
    const key = `${s.name}|${labels[spec.series] || ""}|${field}`;
    const previous = this.lastCounter.get(key);
    this.lastCounter.set(key, { t: s.time_ms, v: s.value });
    // A counter that went down was reset (agent or device restart): no rate for that step.
    if (!previous || s.time_ms <= previous.t || s.value < previous.v) return;
    const rate = ((s.value - previous.v) * 1000) / (s.time_ms - previous.t);
    const r = row(this.times, this.rows, s.time_ms);
    r[field] = (r[field] || 0) + rate;
  }

  trim() {
    if (!Number.isFinite(this.windowMs) || this.times.length === 0) return;
    const oldest = this.times[this.times.length - 1] - this.windowMs;
    let drop = 0;
    while (drop < this.times.length && this.times[drop] < oldest) this.rows.delete(this.times[drop++]);
    if (drop) this.times.splice(0, drop);
  }

  // The newest value of a derived field (e.g. "cpu"), skipping rows that lack it.
  latest(field) {
    for (let i = this.times.length - 1; i >= 0; i--) {
      const v = value(this.rows.get(this.times[i]), field);
      if (v != null) return v;
    }
    return null;
  }

  // uPlot's column data: [x seconds, ...one array per field].
  columns(fields) {
    const xs = new Array(this.times.length);
    const ys = fields.map(() => new Array(this.times.length));
    for (let i = 0; i < this.times.length; i++) {
      const r = this.rows.get(this.times[i]);
      xs[i] = this.times[i] / 1000;
      for (let j = 0; j < fields.length; j++) ys[j][i] = value(r, fields[j]);
    }
    return [xs, ...ys];
  }
}

// Total CPU busy ratio: 1 − idle when the agent sends per-mode totals, else the mean of cores.
function cpuBusy(r) {
  const modes = Object.keys(r.modes);
  if (modes.length) {
    if (r.modes.idle != null) return 1 - r.modes.idle;
    return modes.reduce((sum, m) => sum + r.modes[m], 0);
  }
  let sum = 0;
  let n = 0;
  for (const v of r.cores) if (v != null) { sum += v; n++; }
  return n ? sum / n : null;
}

function value(r, field) {
  if (!r) return null;
  if (field === "cpu") return cpuBusy(r);
  if (field.startsWith("core")) return r.cores[Number(field.slice(4))] ?? null;
  if (field === "memAvailable" && r.memAvailable == null && r.memLimit != null && r.memUsed != null) {
    return r.memLimit - r.memUsed;
  }
  if (field === "memRatio") {
    if (r.memUsed == null) return null;
    const total = r.memLimit ?? (r.memAvailable != null ? r.memUsed + r.memAvailable : null);
    return total ? r.memUsed / total : null;
  }
  return r[field] ?? null;
}
