// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// shots are the panels drawn for the README: dashboard file, panel title,
// picture name.
var shots = []struct{ file, panel, name string }{
	{"host.json", "CPU by mode", "host-cpu"},
	{"host.json", "Load average", "host-load"},
	{"host.json", "Memory", "host-memory"},
	{"host.json", "Throughput per device", "host-disk-io"},
	{"containers.json", "Top $top by CPU", "containers-top-cpu"},
	{"containers.json", "Top $top by memory (working set)", "containers-top-memory"},
	{"containers.json", "Network per container, top $top", "containers-network"},
	{"containers.json", "CPU per container vs group average", "containers-group-cpu"},
	{"agent.json", "Collector duration", "agent-collectors"},
}

// overview is the composite, two pictures a row: names in reading order.
var overview = []string{"host-cpu", "host-disk-io", "containers-top-cpu", "containers-group-cpu", "containers-network", "agent-collectors"}

// unitNames: the panel's Grafana unit, written after the picture's title
// (graphite's vtitle overlaps the axis labels).
var unitNames = map[string]string{
	"percent": "%", "bytes": "bytes", "binBps": "bytes/s", "bps": "bits/s",
	"iops": "IO/s", "s": "seconds", "pps": "packets/s",
}

// TestScreenshots renders the main panels through graphite-web's PNG
// renderer after a run of the agent with some CPU and disk load in the
// middle. It runs only with NODEMETRICS_SCREENSHOTS=DIR (scripts/screenshots.sh);
// NODEMETRICS_SCREENSHOT_SECONDS sets the run (default 60).
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("NODEMETRICS_SCREENSHOTS")
	if dir == "" {
		t.Skip("set NODEMETRICS_SCREENSHOTS=DIR (scripts/screenshots.sh)")
	}
	secs := 60
	if s := os.Getenv("NODEMETRICS_SCREENSHOT_SECONDS"); s != "" {
		var err error
		if secs, err = strconv.Atoi(s); err != nil || secs < 10 {
			t.Fatalf("NODEMETRICS_SCREENSHOT_SECONDS=%q: want a number >= 10", s)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run := time.Duration(secs) * time.Second
	scratch := t.TempDir()
	fx := setup(t, run, func(ctx context.Context) { load(ctx, run, scratch) })

	dashes := map[string]gDashboard{}
	for _, d := range loadDashboards(t) {
		dashes[d.File] = d
	}
	pics := map[string]image.Image{}
	for _, s := range shots {
		d := dashes[s.file]
		sels, allValues := fx.selections(t, d)
		sel := sels[0] // the group views: image shop/web:1.25 in region abc
		var p *gPanel
		for _, q := range d.graphPanels() {
			if q.Title == s.panel {
				p = &q
				break
			}
		}
		if p == nil {
			t.Fatalf("%s: no panel %q", s.file, s.panel)
		}
		unit := p.FieldConfig.Defaults.Unit
		title := interpolate(p.Title, sel, allValues)
		if u := unitNames[unit]; u != "" {
			title += " (" + u + ")"
		}
		if strings.Contains(s.panel, "group") {
			title += fmt.Sprintf(" - image %s, %s %s", sel.values["image"][0], sel.values["label"][0], sel.values["label_value"][0])
		} else {
			title += " - " + dashHost
		}
		form := url.Values{
			"from": {fmt.Sprintf("-%ds", secs+5)}, "until": {"now"}, "format": {"png"},
			"width": {"800"}, "height": {"300"}, "title": {title},
			"bgcolor": {"ffffff"}, "fgcolor": {"222222"}, "majorGridLineColor": {"c8c8c8"},
			"minorGridLineColor": {"ececec"}, "fontName": {"DejaVu Sans"}, "fontSize": {"10"},
			"lineWidth": {"1.5"}, "hideLegend": {"false"}, "drawNullAsZero": {"false"},
			"colorList": {"1f78c1,7eb26d,eab839,e24d42,6ed0e0,ef843c,ba43a9,705da0,508642,cca300,447ebc,c15c17"},
		}
		if p.FieldConfig.Defaults.Custom.Stacking.Mode == "normal" {
			form.Set("areaMode", "stacked")
			form.Set("areaAlpha", "0.8")
		}
		if unit == "bytes" || unit == "binBps" {
			form.Set("yUnitSystem", "binary")
		}
		if m := p.FieldConfig.Defaults.Min; m != nil {
			form.Set("yMin", strconv.FormatFloat(*m, 'g', -1, 64))
		}
		if m := p.FieldConfig.Defaults.Max; m != nil {
			form.Set("yMax", strconv.FormatFloat(*m, 'g', -1, 64))
		}
		targets := map[string]string{}
		for _, tg := range p.Targets {
			targets[tg.RefID] = interpolate(tg.Target, sel, allValues)
			form.Add("target", targets[tg.RefID])
		}
		// Not an empty frame: every target has series with most of the
		// run's points.
		got, err := fx.w.render(targets, form.Get("from"))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		series := 0
		for ref, tg := range targets {
			best := 0
			for _, x := range got[ref] {
				best = max(best, x.nonNull())
			}
			if best < secs/2 {
				t.Errorf("%s: %s: at most %d points of a %d s run", s.name, tg, best, secs)
			}
			series += len(got[ref])
		}
		// graphite-web counts legend columns from the picture's left edge
		// but starts them after the y axis: with many entries the last
		// column would be cut off, unless the axis is on the right.
		if series > 8 {
			form.Set("yAxisSide", "right")
		}
		body, err := fx.w.do("POST", "/render", form)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		img, err := png.Decode(strings.NewReader(string(body)))
		if err != nil {
			t.Fatalf("%s: not a PNG: %v", s.name, err)
		}
		pics[s.name] = img
		out := filepath.Join(dir, s.name+".png")
		if err := os.WriteFile(out, body, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s (%d bytes)", out, len(body))
	}

	// The composite: rows of two 800 x 300 pictures.
	canvas := image.NewRGBA(image.Rect(0, 0, 1600, 300*((len(overview)+1)/2)))
	draw.Draw(canvas, canvas.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	for i, name := range overview {
		img := pics[name]
		at := image.Pt((i%2)*800, (i/2)*300)
		draw.Draw(canvas, image.Rectangle{Min: at, Max: at.Add(img.Bounds().Size())}, img, img.Bounds().Min, draw.Src)
	}
	f, err := os.Create(filepath.Join(dir, "overview.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(f, canvas); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", f.Name())
}

// load makes something worth drawing on the host: half of the CPUs busy
// from 30% to 50% of the run, then steady disk writes (2 MB and an fsync
// every 200 ms) from 62% to 80%.
func load(ctx context.Context, run time.Duration, scratch string) {
	start := time.Now()
	sleep := func(until time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(start.Add(until))):
			return true
		}
	}
	if !sleep(run * 30 / 100) {
		return
	}
	stop := start.Add(run * 50 / 100)
	n := max(1, runtime.NumCPU()/2)
	done := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() {
			x := 1.0
			for time.Now().Before(stop) && ctx.Err() == nil {
				for j := 0; j < 1e5; j++ {
					x = x*1.0000001 + 1e-9
				}
			}
			_ = x
			done <- struct{}{}
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
	if !sleep(run * 62 / 100) {
		return
	}
	f, err := os.Create(filepath.Join(scratch, "burst"))
	if err != nil {
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 2<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for i := 0; ctx.Err() == nil && time.Since(start) < run*80/100; i++ {
		f.WriteAt(buf, int64(i%32)*int64(len(buf)))
		f.Sync()
		if !sleep(time.Since(start) + 200*time.Millisecond) {
			return
		}
	}
}
