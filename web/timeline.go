package web

import (
	"fmt"
	"html"
	"html/template"
	"net/url"
	"strings"
	"time"
)

// The chart's geometry, in SVG user units.
const (
	chartW, chartH             = 860, 260
	padL, padR, padT, padB     = 64, 16, 16, 56
	maxPoints, maxDeletionMark = 400, 1000
)

// drawTimeline draws an account's history: the restorable window as a
// band, the live message count as a step line with a marker at every
// change (each a restore point; a click shows what a restore as of that
// moment brings back), deletions as ticks under the axis, and the time
// asked about as a line. Every text is escaped; nothing is scripted.
func drawTimeline(t Timeline) template.HTML {
	t0, t1 := t.Earliest, t.Latest
	for _, s := range t.Steps {
		t0, t1 = minTime(t0, s.Time), maxTime(t1, s.Time)
	}
	for _, d := range t.Deletions {
		t0, t1 = minTime(t0, d.Time), maxTime(t1, d.Time)
	}
	if !t.At.IsZero() {
		t0, t1 = minTime(t0, t.At), maxTime(t1, t.At)
	}
	if t0.IsZero() {
		return template.HTML(`<p class="muted">The backup holds no history of this account yet.</p>`)
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Minute)
	}
	maxN := 1
	for _, s := range t.Steps {
		maxN = max(maxN, s.Messages)
	}
	plotW, plotH := float64(chartW-padL-padR), float64(chartH-padT-padB)
	x := func(tm time.Time) float64 {
		return float64(padL) + plotW*float64(tm.Sub(t0))/float64(t1.Sub(t0))
	}
	y := func(n int) float64 { return float64(padT) + plotH*(1-float64(n)/float64(maxN)) }
	base := float64(chartH - padB)

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, esc("Backup timeline of "+t.Account))
	// The restorable window.
	if !t.Earliest.IsZero() && t.Latest.After(t.Earliest) {
		fmt.Fprintf(&b, `<rect class="window" x="%.1f" y="%d" width="%.1f" height="%.1f" fill="#e3f0fb"><title>%s</title></rect>`,
			x(t.Earliest), padT, x(t.Latest)-x(t.Earliest), plotH,
			esc("restorable from "+fmtTime(t.Earliest)+" to "+fmtTime(t.Latest)))
	}
	// Axes.
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#555"/>`, padL, base, chartW-padR, base)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="#555"/>`, padL, padT, padL, base)
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="11">%d</text>`, padL-6, y(maxN)+4, maxN)
	fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="11">0</text>`, padL-6, base+4)
	fmt.Fprintf(&b, `<text x="14" y="%d" font-size="11" transform="rotate(-90 14 %d)" text-anchor="middle">messages</text>`,
		padT+int(plotH/2), padT+int(plotH/2))
	for i, tm := range []time.Time{t0, t0.Add(t1.Sub(t0) / 2), t1} {
		anchor := [...]string{"start", "middle", "end"}[i]
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="11">%s</text>`, x(tm), base+36, anchor, esc(fmtTime(tm)))
	}
	// The step line.
	if len(t.Steps) > 0 {
		fmt.Fprintf(&b, `<path class="steps" fill="none" stroke="#1f6fb2" stroke-width="2" d="M%.1f %.1f`, x(t0), y(0))
		for _, s := range t.Steps {
			fmt.Fprintf(&b, ` H%.1f V%.1f`, x(s.Time), y(s.Messages))
		}
		fmt.Fprintf(&b, ` H%.1f"/>`, x(t1))
		every := max(1, len(t.Steps)/maxPoints)
		for i, s := range t.Steps {
			if i%every != 0 && i != len(t.Steps)-1 {
				continue
			}
			href := "/timeline?account=" + url.QueryEscape(t.Account) + "&at=" + url.QueryEscape(s.Time.UTC().Format(time.RFC3339Nano))
			fmt.Fprintf(&b, `<a href="%s"><circle class="point" cx="%.1f" cy="%.1f" r="3.5" fill="#1f6fb2"><title>%s</title></circle></a>`,
				esc(href), x(s.Time), y(s.Messages),
				esc(fmt.Sprintf("%s: %d messages, %s: click to see what a restore as of then brings back", fmtTime(s.Time), s.Messages, formatBytes(s.Bytes))))
		}
	}
	// Deletions.
	every := max(1, len(t.Deletions)/maxDeletionMark)
	for i, d := range t.Deletions {
		if i%every != 0 {
			continue
		}
		fmt.Fprintf(&b, `<line class="deletion" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c0392b" stroke-width="2"><title>%s</title></line>`,
			x(d.Time), base+4, x(d.Time), base+16, esc(fmt.Sprintf("deleted %s: %s, UID %d, %s", fmtTime(d.Time), d.Folder, d.UID, formatBytes(d.Size))))
	}
	// The time asked about.
	if !t.At.IsZero() {
		fmt.Fprintf(&b, `<line class="at" x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#e67e22" stroke-width="2" stroke-dasharray="4 3"><title>%s</title></line>`,
			x(t.At), padT, x(t.At), base, esc("restore as of "+fmtTime(t.At)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func esc(s string) string { return html.EscapeString(s) }

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
