// SPDX-License-Identifier: Apache-2.0

// Package dashboards builds the Grafana dashboards shipped in this folder
// (host.json, containers.json, agent.json) and their provisioning files.
//
// The JSON files are generated from the definitions in spec.go; edit those
// and run `go generate ./dashboards`. The tests check the files are current
// (dashboards_test.go) and send every panel's Graphite query, as Grafana
// would, to a real graphite-web fed by a short run of the agent watching
// real containers (live_test.go, make dashboards-check).
package dashboards

//go:generate go run gen.go

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Datasource is what every panel, target, query variable and annotation
// names as its data source: the dashboard's "datasource" variable, so the
// dashboards work with any Graphite data source, whatever its uid.
var Datasource = map[string]string{"type": "graphite", "uid": "${datasource}"}

// ImportInput is the data source input of Grafana's import dialog
// (__inputs): the Graphite data source picked there becomes the
// datasource variable's initial value. Provisioned dashboards skip the
// dialog; their datasource variable starts on the first Graphite data
// source.
const ImportInput = "DS_GRAPHITE"

// SchemaVersion is the Grafana dashboard schema the files are written in.
const SchemaVersion = 39

// Dashboard is one dashboard definition.
type Dashboard struct {
	File, UID, Title string
	Tags             []string
	Vars             []Var
	Annotations      []Annotation
	Rows             []Row
}

// Row is a dashboard row and its panels, laid out left to right.
type Row struct {
	Title  string
	Panels []Panel
}

// Panel is one time series (or stat) panel.
type Panel struct {
	Title, Description string
	Unit               string   // Grafana unit id: percent, bytes, bps, ...
	Targets            []string // Graphite targets, refIds A, B, ...
	Stack              bool     // stacked areas
	Min, Max           *float64
	NegativeY          string // regexp of series drawn below the axis (tx)
	Stat               bool   // a stat panel (last value) instead of a graph
	Width, Height      int    // grid units; default 12 x 8
	Decimals           *int
}

// Var is a template variable.
type Var struct {
	Name, Label string
	Type        string // query, custom, textbox
	Query       string // Graphite find or tag_values(...) query; custom: comma list; textbox: default
	Multi       bool
	IncludeAll  bool
	AllValue    string
	Description string
}

// Annotation is a Graphite-events annotation query (events with all of Tags).
type Annotation struct {
	Name, Color string
	Tags        []string
}

func f(v float64) *float64 { return &v }

type obj = map[string]any

// JSON renders the dashboard as Grafana's dashboard JSON.
func (d Dashboard) JSON() ([]byte, error) {
	ds := obj{"type": Datasource["type"], "uid": Datasource["uid"]}
	annotations := []any{obj{
		"builtIn": 1, "datasource": obj{"type": "grafana", "uid": "-- Grafana --"},
		"enable": true, "hide": true, "iconColor": "rgba(0, 211, 255, 1)",
		"name": "Annotations & Alerts", "type": "dashboard",
	}}
	for _, a := range d.Annotations {
		annotations = append(annotations, obj{
			"datasource": ds, "enable": true, "hide": false, "iconColor": a.Color, "name": a.Name,
			"target": obj{"fromAnnotations": true, "refId": "Anno", "tags": a.Tags, "textEditor": false},
		})
	}
	vars := []any{obj{
		"name": "datasource", "label": "Graphite", "type": "datasource", "query": "graphite",
		"description": "the Graphite data source the agent's Carbon feeds",
		"hide":        0, "skipUrlSync": false, "multi": false, "includeAll": false, "refresh": 1, "regex": "",
		"options": []any{},
		"current": obj{"selected": false, "text": "${" + ImportInput + "}", "value": "${" + ImportInput + "}"},
	}}
	for _, v := range d.Vars {
		vars = append(vars, v.json(ds))
	}
	var panels []any
	id, y := 1, 0
	for _, r := range d.Rows {
		panels = append(panels, obj{
			"type": "row", "title": r.Title, "id": id, "collapsed": false, "panels": []any{},
			"gridPos": obj{"h": 1, "w": 24, "x": 0, "y": y},
		})
		id++
		y++
		x, rowH := 0, 0
		for _, p := range r.Panels {
			w, h := p.Width, p.Height
			if w == 0 {
				w = 12
			}
			if h == 0 {
				h = 8
			}
			if x+w > 24 {
				x, y, rowH = 0, y+rowH, 0
			}
			panels = append(panels, p.json(ds, id, x, y, w, h))
			id++
			x += w
			rowH = max(rowH, h)
		}
		y += rowH
	}
	dash := obj{
		"__inputs": []any{obj{
			"name": ImportInput, "label": "Graphite", "description": "the Graphite data source the agent's Carbon feeds",
			"type": "datasource", "pluginId": "graphite", "pluginName": "Graphite",
		}},
		"__requires": []any{
			obj{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
			obj{"type": "datasource", "id": "graphite", "name": "Graphite", "version": "1.0.0"},
			obj{"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
			obj{"type": "panel", "id": "stat", "name": "Stat", "version": ""},
		},
		"uid": d.UID, "title": d.Title, "tags": d.Tags, "schemaVersion": SchemaVersion, "version": 1,
		"editable": true, "graphTooltip": 1, "liveNow": false, "refresh": "1m",
		"time":                 obj{"from": "now-6h", "to": "now"},
		"timepicker":           obj{},
		"timezone":             "browser",
		"fiscalYearStartMonth": 0,
		"links":                []any{},
		"annotations":          obj{"list": annotations},
		"templating":           obj{"list": vars},
		"panels":               panels,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(dash); err != nil {
		return nil, fmt.Errorf("%s: %w", d.File, err)
	}
	return b.Bytes(), nil
}

func (v Var) json(ds obj) obj {
	m := obj{
		"name": v.Name, "label": v.Label, "type": v.Type, "hide": 0, "skipUrlSync": false,
		"multi": v.Multi, "includeAll": v.IncludeAll, "description": v.Description,
	}
	if v.IncludeAll && v.AllValue != "" {
		m["allValue"] = v.AllValue
	}
	switch v.Type {
	case "query":
		m["datasource"] = ds
		m["definition"] = v.Query
		m["query"] = obj{"queryType": "Default", "refId": "A", "target": v.Query}
		m["refresh"] = 2 // on time range change: hosts come and go
		m["regex"] = ""
		m["sort"] = 1
		m["current"] = obj{}
		m["options"] = []any{}
	case "custom":
		m["query"] = v.Query
		var opts []any
		first := ""
		for i, o := range splitComma(v.Query) {
			if i == 0 {
				first = o
			}
			opts = append(opts, obj{"selected": i == 0, "text": o, "value": o})
		}
		m["options"] = opts
		m["current"] = obj{"selected": true, "text": first, "value": first}
	case "textbox":
		m["query"] = v.Query
		m["current"] = obj{"selected": false, "text": v.Query, "value": v.Query}
		m["options"] = []any{obj{"selected": true, "text": v.Query, "value": v.Query}}
	}
	return m
}

func splitComma(s string) []string {
	var out []string
	for _, p := range bytes.Split([]byte(s), []byte(",")) {
		if t := string(bytes.TrimSpace(p)); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func (p Panel) json(ds obj, id, x, y, w, h int) obj {
	var targets []any
	for i, t := range p.Targets {
		targets = append(targets, obj{"refId": string(rune('A' + i)), "target": t, "datasource": ds})
	}
	defaults := obj{"unit": p.Unit, "color": obj{"mode": "palette-classic"}}
	if p.Min != nil {
		defaults["min"] = *p.Min
	}
	if p.Max != nil {
		defaults["max"] = *p.Max
	}
	if p.Decimals != nil {
		defaults["decimals"] = *p.Decimals
	}
	m := obj{
		"type": "timeseries", "title": p.Title, "description": p.Description, "id": id,
		"datasource": ds, "targets": targets,
		"gridPos": obj{"h": h, "w": w, "x": x, "y": y},
	}
	overrides := []any{}
	if p.Stat {
		m["type"] = "stat"
		defaults["color"] = obj{"mode": "thresholds"}
		defaults["thresholds"] = obj{"mode": "absolute", "steps": []any{obj{"color": "green", "value": nil}}}
		m["options"] = obj{
			"reduceOptions": obj{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"colorMode":     "value", "graphMode": "area", "justifyMode": "auto", "orientation": "auto",
			"textMode": "auto", "wideLayout": true, "showPercentChange": false,
		}
	} else {
		fill, stacking := 10, obj{"mode": "none", "group": "A"}
		if p.Stack {
			fill, stacking = 60, obj{"mode": "normal", "group": "A"}
		}
		defaults["custom"] = obj{
			"drawStyle": "line", "lineInterpolation": "linear", "lineWidth": 1, "fillOpacity": fill,
			"gradientMode": "none", "showPoints": "never", "pointSize": 4, "spanNulls": false,
			"stacking": stacking, "axisPlacement": "auto", "axisLabel": "", "axisCenteredZero": false,
			"barAlignment": 0, "scaleDistribution": obj{"type": "linear"},
			"thresholdsStyle": obj{"mode": "off"}, "hideFrom": obj{"legend": false, "tooltip": false, "viz": false},
		}
		defaults["thresholds"] = obj{"mode": "absolute", "steps": []any{obj{"color": "green", "value": nil}}}
		m["options"] = obj{
			"legend":  obj{"displayMode": "table", "placement": "bottom", "showLegend": true, "calcs": []string{"mean", "max", "lastNotNull"}},
			"tooltip": obj{"mode": "multi", "sort": "desc"},
		}
		if p.NegativeY != "" {
			overrides = append(overrides, obj{
				"matcher":    obj{"id": "byRegexp", "options": p.NegativeY},
				"properties": []any{obj{"id": "custom.transform", "value": "negative-Y"}},
			})
		}
	}
	m["fieldConfig"] = obj{"defaults": defaults, "overrides": overrides}
	return m
}

// Files returns every generated file (dashboard JSON and provisioning YAML)
// by its path relative to this folder.
func Files() (map[string][]byte, error) {
	out := map[string][]byte{
		"provisioning/datasources/graphite.yaml":   []byte(datasourceYAML),
		"provisioning/dashboards/nodemetrics.yaml": []byte(dashboardsYAML),
	}
	for _, d := range All() {
		b, err := d.JSON()
		if err != nil {
			return nil, err
		}
		out[d.File] = b
	}
	return out, nil
}

const datasourceYAML = `# Grafana provisioning: a Graphite data source for the dashboards (they use any Graphite
# data source through their "datasource" variable; an existing one needs no file).
# Copy to /etc/grafana/provisioning/datasources/ and set url to your graphite-web.
# Generated by dashboards/gen.go.
apiVersion: 1
datasources:
  - name: Graphite
    type: graphite
    uid: graphite
    access: proxy
    url: http://127.0.0.1:8080
    isDefault: true
    editable: false
    jsonData:
      graphiteVersion: "1.1"
      graphiteType: default
`

const dashboardsYAML = `# Grafana provisioning: load host.json, containers.json and agent.json.
# Copy to /etc/grafana/provisioning/dashboards/ and the JSON files to path below.
# Generated by dashboards/gen.go.
apiVersion: 1
providers:
  - name: nodemetrics
    orgId: 1
    folder: nodemetrics
    type: file
    disableDeletion: false
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: /var/lib/grafana/dashboards/nodemetrics
      foldersFromFilesStructure: false
`
