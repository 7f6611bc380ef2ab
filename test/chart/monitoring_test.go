package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// declaredMetrics are the metrics internal/metrics/metrics.go defines, by name, with their type
// ("Counter", "Gauge", "Histogram", ...), read from the source as operatorFlags reads main.go.
func declaredMetrics(t *testing.T) map[string]string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot(), "internal", "metrics", "metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	re := regexp.MustCompile(`prometheus\.New(Counter|Gauge|Histogram|Summary)(?:Vec)?\(prometheus\.\w+Opts\{[^}]*?Name:\s*"([a-z0-9_:]+)"`)
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		out[m[2]] = m[1]
	}
	if len(out) < 9 {
		t.Fatalf("found only %d metrics in internal/metrics/metrics.go: %v", len(out), out)
	}
	return out
}

// controllerRuntimeMetrics are the metrics of controller-runtime the dashboard and the alerts
// use; test/e2e checks that the operator binary exports them.
var controllerRuntimeMetrics = map[string]string{
	"controller_runtime_reconcile_errors_total": "Counter",
	"workqueue_depth": "Gauge",
}

// controllerMatchers are the label matchers that pick the operator's controllers out of
// controller-runtime's metrics (other operators in the same namespace use the same names).
var controllerMatchers = regexp.MustCompile(`\b(?:controller|name)=~"([^"]*)"`)

// checkControllerMatchers checks that a matcher on controller names covers every controller the
// operator registers (Named("...") in controllers/).
func checkControllerMatchers(t *testing.T, where, expr string) {
	t.Helper()
	for _, m := range controllerMatchers.FindAllStringSubmatch(expr, -1) {
		re, err := regexp.Compile("^(?:" + m[1] + ")$")
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, c := range controllerNames(t) {
			if !re.MatchString(c) {
				t.Errorf("%s: %s leaves out the controller %q", where, m[0], c)
			}
		}
	}
}

// controllerNames are the names the operator's controllers register under.
func controllerNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(), "controllers", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`"([a-z0-9-]+)"`).FindAllStringSubmatch(strings.Join(regexp.MustCompile(`Named\([^\n]*`).FindAllString(string(src), -1), "\n"), -1) {
			names = append(names, m[1])
		}
	}
	if len(names) < 5 {
		t.Fatalf("found only these controller names in controllers/: %v", names)
	}
	return names
}

var metricName = regexp.MustCompile(`\b(?:scim_operator|controller_runtime|workqueue)_[a-z0-9_]+`)

// checkExpr checks that a PromQL expression is balanced and selects only metrics that exist;
// it returns the metrics it uses (histograms without their _bucket/_sum/_count suffix).
func checkExpr(t *testing.T, where, expr string, known map[string]string) []string {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty expression", where)
	}
	for _, pair := range []string{"()", "{}", "[]"} {
		if strings.Count(expr, pair[:1]) != strings.Count(expr, pair[1:]) {
			t.Errorf("%s: unbalanced %s in %s", where, pair, expr)
		}
	}
	if strings.Count(expr, `"`)%2 != 0 {
		t.Errorf("%s: unbalanced quotes in %s", where, expr)
	}
	checkControllerMatchers(t, where, expr)
	var used []string
	for _, name := range metricName.FindAllString(expr, -1) {
		base := name
		if typ, ok := known[name]; ok {
			if typ == "Histogram" {
				t.Errorf("%s: histogram %s is used without _bucket, _sum or _count", where, name)
			}
		} else {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && known[b] == "Histogram" {
					base = b
				}
			}
			if base == name {
				t.Errorf("%s: %s is neither a metric of internal/metrics nor one of %v", where, name, controllerRuntimeMetrics)
			}
		}
		if known[base] == "Counter" && !regexp.MustCompile(`(rate|increase)\(\s*`+name).MatchString(expr) {
			t.Errorf("%s: counter %s is used without rate() or increase()", where, name)
		}
		used = append(used, base)
	}
	return used
}

func knownMetrics(t *testing.T) map[string]string {
	known := declaredMetrics(t)
	for name, typ := range controllerRuntimeMetrics {
		known[name] = typ
	}
	return known
}

// dashboardPanel is the part of a Grafana panel the checks read.
type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// TestDashboard checks the Grafana dashboard: the ConfigMap that ships it, and that every panel
// queries metrics the operator exports, covering every metric the operator defines.
func TestDashboard(t *testing.T) {
	file, err := os.ReadFile(filepath.Join(chartDir(), "files", "dashboards", "scim-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID        string           `json:"uid"`
		Title      string           `json:"title"`
		Panels     []dashboardPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name, Type string
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(file, &dash); err != nil {
		t.Fatalf("files/dashboards/scim-operator.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" {
		t.Error("the dashboard has no uid or title")
	}
	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" {
		t.Errorf("the dashboard has no datasource variable: %v", vars)
	}
	known := knownMetrics(t)
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W <= 0 || p.GridPos.H <= 0 {
			t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			for _, name := range checkExpr(t, "panel "+p.Title, target.Expr, known) {
				used[name] = true
			}
		}
	}
	for name := range known {
		if !used[name] {
			t.Errorf("no dashboard panel shows %s", name)
		}
	}

	// The ConfigMap: off by default (TestDefaults), the file verbatim, the sidecar's label.
	m := render(t, release, namespace, "", "dashboard.enabled=true")
	cm := m.get("ConfigMap", release+"-dashboard")
	if cm == nil {
		t.Fatal("dashboard.enabled=true renders no ConfigMap " + release + "-dashboard")
	}
	if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetNamespace() != namespace {
		t.Errorf("dashboard ConfigMap: labels %v, namespace %s", cm.GetLabels(), cm.GetNamespace())
	}
	if got := str(cm.Object, "data", "scim-operator.json"); strings.TrimSpace(got) != strings.TrimSpace(string(file)) {
		t.Error("the ConfigMap does not hold files/dashboards/scim-operator.json verbatim")
	}
	m = render(t, release, namespace, "", "dashboard.enabled=true", "dashboard.namespace=monitoring",
		"dashboard.labels.grafana_dashboard=null", "dashboard.labels.dashboards=identity")
	cm = m.one(t, "ConfigMap")
	if cm.GetNamespace() != "monitoring" || cm.GetLabels()["dashboards"] != "identity" {
		t.Errorf("dashboard.namespace and dashboard.labels are not applied: %s %v", cm.GetNamespace(), cm.GetLabels())
	}
	if _, ok := cm.GetLabels()["grafana_dashboard"]; ok {
		t.Error("the grafana_dashboard label cannot be removed")
	}
}

// alertNames are the alerts of templates/prometheusrule.yaml; docs/metrics.md explains each.
var alertNames = []string{
	"ScimOperatorSCIMErrors", "ScimOperatorDeprovisioningRefused", "ScimOperatorTimeToRevokeSlow",
	"ScimOperatorTokenExpiringSoon", "ScimOperatorTokenExpired", "ScimOperatorReconcileErrors",
}

type alertRule struct {
	name, expr, forDuration string
	labels, annotations     map[string]any
}

func alertRules(t *testing.T, m manifest) []alertRule {
	t.Helper()
	var out []alertRule
	for _, g := range slice(m.one(t, "PrometheusRule").Object, "spec", "groups") {
		for _, r := range slice(g.(map[string]any), "rules") {
			rm := r.(map[string]any)
			out = append(out, alertRule{name: str(rm, "alert"), expr: str(rm, "expr"), forDuration: str(rm, "for"),
				labels: mapOf(rm, "labels"), annotations: mapOf(rm, "annotations")})
		}
	}
	return out
}

// TestPrometheusRule checks the alerting rules: the alerts the issue names, on metrics that
// exist, limited to the release's series, with the values' thresholds, labels and switches.
func TestPrometheusRule(t *testing.T) {
	known := knownMetrics(t)
	rules := alertRules(t, render(t, release, namespace, "", "prometheusRule.enabled=true"))
	var names []string
	for _, r := range rules {
		names = append(names, r.name)
		checkExpr(t, "alert "+r.name, r.expr, known)
		if !strings.Contains(r.expr, `namespace="`+namespace+`"`) {
			t.Errorf("alert %s does not select the release namespace: %s", r.name, r.expr)
		}
		if r.labels["severity"] == nil || r.annotations["summary"] == nil || r.annotations["description"] == nil || r.forDuration == "" {
			t.Errorf("alert %s needs severity, summary, description and for: %+v", r.name, r)
		}
		for _, text := range []any{r.annotations["summary"], r.annotations["description"]} {
			if s, _ := text.(string); strings.Contains(s, "{{ .") {
				t.Errorf("alert %s: a Helm expression leaked into an annotation: %s", r.name, s)
			}
		}
	}
	if !slices.Equal(names, alertNames) {
		t.Errorf("alerts = %v, want %v", names, alertNames)
	}

	// Values: selector, thresholds, extra labels, disabled alerts, extra rules.
	rules = alertRules(t, render(t, release, namespace, "", "prometheusRule.enabled=true",
		`prometheusRule.selector=job="scim"`, "prometheusRule.thresholds.tokenExpiryDays=14",
		"prometheusRule.alertLabels.team=platform", "prometheusRule.disabledAlerts={ScimOperatorReconcileErrors}",
		"prometheusRule.extraRules[0].alert=Custom", "prometheusRule.extraRules[0].expr=vector(1)"))
	names = nil
	for _, r := range rules {
		names = append(names, r.name)
		if r.name == "Custom" {
			continue
		}
		if !strings.Contains(r.expr, `{job="scim"`) || strings.Contains(r.expr, "namespace=") {
			t.Errorf("alert %s ignores prometheusRule.selector: %s", r.name, r.expr)
		}
		if r.labels["team"] != "platform" {
			t.Errorf("alert %s lacks the alertLabels: %v", r.name, r.labels)
		}
		if r.name == "ScimOperatorTokenExpiringSoon" && !strings.Contains(r.expr, "< 1209600") {
			t.Errorf("tokenExpiryDays=14 is not applied: %s", r.expr)
		}
	}
	if slices.Contains(names, "ScimOperatorReconcileErrors") || !slices.Contains(names, "Custom") {
		t.Errorf("disabledAlerts and extraRules are not applied: %v", names)
	}

	// The schema refuses what the template cannot use.
	for _, set := range [][]string{
		{"prometheusRule.disabledAlerts={NoSuchAlert}"},
		{`prometheusRule.selector=namespace="x"}`},
		{"prometheusRule.thresholds.scimErrorRatio=5"},
		{"dashboard.enabled=yes"},
	} {
		args := []string{"template", release, chartDir(), "--namespace", namespace, "--set", "prometheusRule.enabled=true"}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		if _, err := helm(t, nil, args...); err == nil {
			t.Errorf("helm template --set %v succeeded", set)
		}
	}
}

// TestMetricsDocumented checks that docs/metrics.md names every metric the operator defines,
// the controller-runtime metrics the dashboard uses, and every alert. It needs no helm.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot(), "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range knownMetrics(t) {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range append(names, alertNames...) {
		if !strings.Contains(string(doc), name) {
			t.Errorf("docs/metrics.md does not mention %s", name)
		}
	}
}
