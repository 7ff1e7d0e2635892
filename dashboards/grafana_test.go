// SPDX-License-Identifier: Apache-2.0

package dashboards

// A model of what Grafana does with the dashboard JSON: which panels and
// targets it has, how it expands template variables, and which requests its
// Graphite data source sends for them.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

type gDashboard struct {
	File          string
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Panels        []gPanel
	Templating    struct {
		List []gVar `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []gAnnotation `json:"list"`
	} `json:"annotations"`
}

type gDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gPanel struct {
	ID         int      `json:"id"`
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Datasource *gDS     `json:"datasource"`
	Panels     []gPanel `json:"panels"` // collapsed rows
	Targets    []struct {
		RefID      string `json:"refId"`
		Target     string `json:"target"`
		Hide       bool   `json:"hide"`
		Datasource *gDS   `json:"datasource"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit   string   `json:"unit"`
			Min    *float64 `json:"min"`
			Max    *float64 `json:"max"`
			Custom struct {
				Stacking struct {
					Mode string `json:"mode"`
				} `json:"stacking"`
			} `json:"custom"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Options struct {
		Legend *struct {
			ShowLegend  bool   `json:"showLegend"`
			DisplayMode string `json:"displayMode"`
		} `json:"legend"`
	} `json:"options"`
}

type gVar struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *gDS            `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

type gAnnotation struct {
	Name       string `json:"name"`
	BuiltIn    int    `json:"builtIn"`
	Datasource *gDS   `json:"datasource"`
	Target     *struct {
		Target string   `json:"target"`
		Tags   []string `json:"tags"`
	} `json:"target"`
}

// queryText is a variable's query: a string, or Grafana's Graphite query
// object {"target": ...}.
func (v gVar) queryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Target string `json:"target"`
	}
	json.Unmarshal(v.Query, &o)
	return o.Target
}

func loadDashboards(t testing.TB) []gDashboard {
	t.Helper()
	var out []gDashboard
	for _, d := range All() {
		b, err := os.ReadFile(d.File)
		if err != nil {
			t.Fatal(err)
		}
		var g gDashboard
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatalf("%s: %v", d.File, err)
		}
		g.File = d.File
		out = append(out, g)
	}
	return out
}

// graphPanels returns the panels with queries, rows' children included.
func (d gDashboard) graphPanels() []gPanel {
	var out []gPanel
	var walk func([]gPanel)
	walk = func(ps []gPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// selection is the value(s) chosen for each variable; all marks "All".
type selection struct {
	values map[string][]string
	all    map[string]bool
}

func (s selection) clone() selection {
	n := selection{values: map[string][]string{}, all: map[string]bool{}}
	for k, v := range s.values {
		n.values[k] = v
	}
	for k, v := range s.all {
		n.all[k] = v
	}
	return n
}

func (s selection) String() string {
	var keys []string
	for k := range s.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := strings.Join(s.values[k], "|")
		if s.all[k] {
			v = "All"
		}
		fmt.Fprintf(&b, "%s=%s ", k, v)
	}
	return strings.TrimSpace(b.String())
}

// Grafana's variable syntax: $var, [[var]] or [[var:fmt]], ${var} or ${var:fmt}.
var varRE = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^\}]+))?\}`)

// regexEscape is Grafana's escaping for the regex format.
var regexEscapeRE = regexp.MustCompile(`[\\^$*+?.()|\[\]{}/]`)

func regexEscape(s string) string { return regexEscapeRE.ReplaceAllString(s, `\$0`) }

// interpolate expands variables as Grafana's templateSrv.replace does for the
// Graphite data source: the default format is glob ({a,b}) for several
// values; "regex" gives (a|b) with each value escaped; a custom all value is
// used as it is. Unknown variables are left alone (Grafana does the same).
func interpolate(s string, sel selection, allValues map[string]string) string {
	return varRE.ReplaceAllStringFunc(s, func(m string) string {
		sm := varRE.FindStringSubmatch(m)
		name, fmtName := sm[1], ""
		if sm[2] != "" {
			name, fmtName = sm[2], sm[3]
		}
		if sm[4] != "" {
			name, fmtName = sm[4], sm[5]
		}
		vals, ok := sel.values[name]
		if !ok {
			return m
		}
		if sel.all[name] && allValues[name] != "" {
			return allValues[name]
		}
		if fmtName == "regex" {
			esc := make([]string, len(vals))
			for i, v := range vals {
				esc[i] = regexEscape(v)
			}
			if len(esc) == 1 {
				return esc[0]
			}
			return "(" + strings.Join(esc, "|") + ")"
		}
		if len(vals) == 1 {
			return vals[0]
		}
		return "{" + strings.Join(vals, ",") + "}"
	})
}

// splitTagValuesArgs splits tag_values(a, b, c) arguments on commas that are
// not inside braces, as Grafana does.
func splitTagValuesArgs(q string) (args []string, ok bool) {
	m := regexp.MustCompile(`^tag_values\((.*)\)$`).FindStringSubmatch(q)
	if m == nil {
		return nil, false
	}
	depth, start := 0, 0
	for i, c := range m[1] {
		switch c {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				args = append(args, strings.TrimSpace(m[1][start:i]))
				start = i + 1
			}
		}
	}
	return append(args, strings.TrimSpace(m[1][start:])), true
}

// variableRequest is the request Grafana sends for a query variable:
// tag_values(tag, expr...) -> GET /tags/autoComplete/values?tag=&expr=...;
// anything else -> POST /metrics/find with the form query=... and the time
// range in the URL.
func variableRequest(q string) (method, path string, form url.Values) {
	if args, ok := splitTagValuesArgs(q); ok {
		v := url.Values{"tag": {args[0]}, "limit": {"10000"}, "from": {"-10min"}, "until": {"now"}}
		for _, e := range args[1:] {
			if e != "" {
				v.Add("expr", e)
			}
		}
		return "GET", "/tags/autoComplete/values", v
	}
	return "POST", "/metrics/find?from=-10min&until=now", url.Values{"query": {q}}
}

// funcNameRE finds Graphite function calls in a target.
var funcNameRE = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\(`)

// pathRE finds metric path expressions under the prefix variable.
var pathRE = regexp.MustCompile(`\$prefix\.[^,()'"\s]+`)

// fanOut reports why a target could match every series of every host, or "".
// Allowed: paths whose host node is $host, and paths with a * host node
// followed by a literal path (one series per host); seriesByTag with a
// filter on a variable.
func fanOut(target string) string {
	for _, p := range pathRE.FindAllString(target, -1) {
		nodes := strings.Split(p, ".")
		if len(nodes) < 3 {
			return p + ": no metric below the host"
		}
		switch nodes[1] {
		case "$host", "${host}", "[[host]]":
		case "*":
			for _, n := range nodes[2:] {
				if strings.ContainsAny(n, "*?[{$") {
					return p + ": wildcard below a * host"
				}
			}
		default:
			return p + ": host node is neither $host nor a single-path *"
		}
	}
	if strings.Contains(target, "seriesByTag(") {
		for _, m := range regexp.MustCompile(`seriesByTag\(([^)]*)\)`).FindAllStringSubmatch(target, -1) {
			filtered := false
			for _, arg := range strings.Split(m[1], ",") {
				arg = strings.Trim(strings.TrimSpace(arg), `'"`)
				if !strings.HasPrefix(arg, "name=") && strings.Contains(arg, "$") {
					filtered = true
				}
			}
			if !filtered {
				return m[0] + ": no tag filter on a variable"
			}
		}
	} else if !strings.Contains(target, "$prefix.") {
		return "no $prefix.* path and no seriesByTag"
	}
	return ""
}
