package httpapi

import (
	"fmt"
	"math"
	"time"

	"gateway/ops"
)

// barChart is one provider's receipts per bucket as stacked bars by
// status, laid out here and drawn by the overview template as inline SVG:
// the chart needs no JavaScript, and each bar segment has a <title> the
// browser shows on hover.
type barChart struct {
	Provider      string
	Width, Height int
	Left, Right   float64 // the plot's x extent
	Top, Bottom   float64 // the plot's y extent
	Segments      []barSegment
	Grid          []gridLine
	Labels        []axisLabel
	Total         ops.Counts
}

type barSegment struct {
	X, Y, W, H float64
	Status     string
	Title      string
}

type gridLine struct {
	Y     float64
	Label string
}

type axisLabel struct {
	X    float64
	Text string
}

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartWidth  = 1200
	chartHeight = 150
	chartLeft   = 44
	chartRight  = 8
	chartTop    = 10
	chartBottom = 22
	maxLabels   = 8
)

// charts lays out one chart per provider of the overview.
func charts(o ops.Overview) []barChart {
	out := make([]barChart, 0, len(o.Series))
	for _, sr := range o.Series {
		out = append(out, chart(o, sr))
	}
	return out
}

func chart(o ops.Overview, sr ops.Series) barChart {
	c := barChart{Provider: sr.Provider, Width: chartWidth, Height: chartHeight, Total: sr.Total,
		Left: chartLeft, Right: chartWidth - chartRight, Top: chartTop, Bottom: chartHeight - chartBottom}
	n := len(o.Starts)
	if n == 0 {
		return c
	}
	var peak int64
	for _, b := range sr.Buckets {
		peak = max(peak, b.Sum())
	}
	yMax := niceCeil(peak)
	plotH := c.Bottom - c.Top
	scale := plotH / float64(yMax)
	lines := []int64{0, yMax}
	if yMax%2 == 0 {
		lines = []int64{0, yMax / 2, yMax}
	}
	for _, v := range lines {
		c.Grid = append(c.Grid, gridLine{Y: round1(c.Bottom - float64(v)*scale), Label: fmt.Sprint(v)})
	}
	bw := (c.Right - c.Left) / float64(n)
	every := (n + maxLabels - 1) / maxLabels
	for i, b := range sr.Buckets {
		x := c.Left + float64(i)*bw
		y := c.Bottom
		for _, st := range ops.Statuses {
			v := b[st]
			if v == 0 {
				continue
			}
			h := float64(v) * scale
			y -= h
			c.Segments = append(c.Segments, barSegment{X: round1(x + bw*0.1), Y: round1(y), W: round1(bw * 0.8), H: round1(h),
				Status: string(st), Title: fmt.Sprintf("%s %s, %s: %d", sr.Provider, st, bucketName(o, i), v)})
		}
		if i%every == 0 {
			c.Labels = append(c.Labels, axisLabel{X: round1(x), Text: tickLabel(o, i)})
		}
	}
	return c
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v int64) int64 {
	if v <= 1 {
		return 1
	}
	p := int64(math.Pow(10, math.Floor(math.Log10(float64(v)))))
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// tickLabel names a bucket on the x axis: the hour within a day, else the day.
func tickLabel(o ops.Overview, i int) string {
	if o.Window.Span <= 24*time.Hour {
		return o.Starts[i].Format("15:04")
	}
	return o.Starts[i].Format("Jan 2")
}

// bucketName names a bucket's period in full, for its bars' titles.
func bucketName(o ops.Overview, i int) string {
	from := o.Starts[i]
	to := from.Add(o.Window.Step)
	if o.Window.Step >= 24*time.Hour {
		return from.Format("Mon Jan 2") + " UTC"
	}
	return from.Format("Jan 2 15:04") + "–" + to.Format("15:04") + " UTC"
}
