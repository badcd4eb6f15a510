// "Would this rule fire now?": a rule checked against each host's newest samples, before saving.
// The same matching as the backend's evaluator: metric name, label matchers, `host` = host name.

const COMPARE = {
  ">": (a, b) => a > b, ">=": (a, b) => a >= b, "<": (a, b) => a < b,
  "<=": (a, b) => a <= b, "==": (a, b) => a === b, "!=": (a, b) => a !== b,
};

function matches(rule, host, sample) {
  if (sample.name !== rule.metric) return false;
  for (const [key, wanted] of Object.entries(rule.matchers || {})) {
    const actual = key === "host" ? host : sample.labels[key];
    if (actual !== wanted) return false;
  }
  return true;
}

// recent: {host: samples[]} → [{host, labels, value, fires}] for each matching series' newest sample.
export function previewRule(rule, recent) {
  const compare = COMPARE[rule.op];
  const out = [];
  for (const [host, samples] of Object.entries(recent)) {
    const newest = new Map();
    for (const s of samples) {
      if (!matches(rule, host, s)) continue;
      const key = JSON.stringify(s.labels);
      const seen = newest.get(key);
      if (!seen || seen.time_ms <= s.time_ms) newest.set(key, s);
    }
    for (const s of newest.values()) {
      out.push({ host, labels: s.labels, value: s.value, fires: compare ? compare(s.value, rule.threshold) : false });
    }
  }
  return out;
}
