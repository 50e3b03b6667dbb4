package timearg

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600) // no tzdata: a fixed zone checks the same rule
	}
	for _, tc := range []struct {
		in   string
		want Point
	}{
		{"first", Point{First: true}},
		{" LAST ", Point{Last: true}},
		{"2025-03-01T10:00:00Z", Point{Time: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}},
		{"2025-03-01T10:00:00.25+02:00", Point{Time: time.Date(2025, 3, 1, 8, 0, 0, 250_000_000, time.UTC)}},
		{"2025-03-01", Point{Time: time.Date(2025, 3, 1, 0, 0, 0, 0, paris)}},
		{"2025-03-01 10:00", Point{Time: time.Date(2025, 3, 1, 10, 0, 0, 0, paris)}},
		{"2025-03-01 10:00:05", Point{Time: time.Date(2025, 3, 1, 10, 0, 5, 0, paris)}},
		{"2025-03-01T10:00:05", Point{Time: time.Date(2025, 3, 1, 10, 0, 5, 0, paris)}},
		{"01/03/2025 10:00:05", Point{Time: time.Date(2025, 3, 1, 10, 0, 5, 0, paris)}},
		{"31/12/2024 23:59:59", Point{Time: time.Date(2024, 12, 31, 23, 59, 59, 0, paris)}},
	} {
		got, err := Parse(tc.in, paris)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got.First != tc.want.First || got.Last != tc.want.Last || !got.Time.Equal(tc.want.Time) {
			t.Errorf("Parse(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseLocalDefault(t *testing.T) {
	got, err := Parse("2025-03-01 10:00", nil)
	if err != nil || !got.Time.Equal(time.Date(2025, 3, 1, 10, 0, 0, 0, time.Local)) {
		t.Fatalf("nil location: %v %v", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{"", "yesterday", "2025-13-01", "32/01/2025 10:00:00", "2025-03-01 25:00", "1700000000", "firsts"} {
		if _, err := Parse(in, time.UTC); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q): %v, want ErrSyntax", in, err)
		}
	}
}

func TestPointString(t *testing.T) {
	for _, p := range []Point{{First: true}, {Last: true}, {Time: time.Date(2025, 3, 1, 10, 0, 0, 5, time.UTC)}} {
		back, err := Parse(p.String(), time.UTC)
		if err != nil || back.First != p.First || back.Last != p.Last || !back.Time.Equal(p.Time) {
			t.Errorf("round trip %v: %v %v", p, back, err)
		}
	}
	if !(Point{}).IsZero() || (Point{First: true}).IsZero() {
		t.Error("IsZero")
	}
}
