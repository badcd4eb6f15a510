// HostPulse as a monitoring mixin (https://monitoring.mixins.dev): the same dashboards and rules as
// the rest of the repository, not copies — the generated dashboard JSON and
// collector-config/prometheus/hostpulse-rules.yml are imported as they are.
//
//   jsonnet -J . -e '(import "mixin.libsonnet").prometheusAlerts' > alerts.json
//   jsonnet -J . -m dashboards_out -e '(import "mixin.libsonnet").grafanaDashboards'
//
// There is no _config: thresholds live in the rules file and the dashboards' variables choose the
// hosts, so edit those files and every way of installing HostPulse stays the same.
local rules = std.parseYaml(importstr '../prometheus/hostpulse-rules.yml');
local withAlerts(want) = {
  groups: [
    group
    for group in rules.groups
    if (std.length([r for r in group.rules if std.objectHas(r, 'alert')]) > 0) == want
  ],
};

{
  grafanaDashboards+:: {
    'hostpulse-alerts.json': import '../../dashboards/grafana/dashboards/hostpulse-alerts.json',
    'hostpulse-fleet.json': import '../../dashboards/grafana/dashboards/hostpulse-fleet.json',
    'hostpulse-history.json': import '../../dashboards/grafana/dashboards/hostpulse-history.json',
    'hostpulse-host.json': import '../../dashboards/grafana/dashboards/hostpulse-host.json',
    'hostpulse-self.json': import '../../dashboards/grafana/dashboards/hostpulse-self.json',
  },
  prometheusAlerts+:: withAlerts(true),
  prometheusRules+:: withAlerts(false),
}
