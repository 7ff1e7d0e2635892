// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"math"
	"strconv"
	"testing"
)

// Graphite tools compare and parse values as text: no exponent form, every
// digit of a raw counter, and no "-0".
func TestAppendLineFormat(t *testing.T) {
	for _, tc := range []struct {
		v     float64
		iv    uint64
		isInt bool
		want  string
	}{
		{v: 1e21, want: "p.x 1000000000000000000000 5\n"},
		{v: 1e-7, want: "p.x 0.0000001 5\n"},
		{v: -1.5e-10, want: "p.x -0.00000000015 5\n"},
		{v: math.Copysign(0, -1), want: "p.x 0 5\n"},
		{v: 0, want: "p.x 0 5\n"},
		{v: 0.1, want: "p.x 0.1 5\n"},
		{v: 12345.678, want: "p.x 12345.678 5\n"},
		{v: float64(1 << 53), want: "p.x 9007199254740992 5\n"},
		{iv: math.MaxUint64, isInt: true, want: "p.x 18446744073709551615 5\n"},
		{iv: 1<<53 + 1, isInt: true, want: "p.x 9007199254740993 5\n"},
		{iv: 0, isInt: true, want: "p.x 0 5\n"},
	} {
		if got := string(AppendLine(nil, "p.", "x", tc.v, tc.iv, tc.isInt, 5)); got != tc.want {
			t.Errorf("AppendLine(%v, %d) = %q, want %q", tc.v, tc.iv, got, tc.want)
		}
	}
}

func TestAppendLineNoPrefixAndAppends(t *testing.T) {
	b := AppendLine([]byte("a 1 1\n"), "", "servers.h.load", 0.5, 0, false, -1)
	if got := string(b); got != "a 1 1\nservers.h.load 0.5 -1\n" {
		t.Fatalf("got %q", got)
	}
}

// AppendValue must read back as the same float64 (shortest round-trip
// digits), whatever the magnitude.
func TestAppendValueRoundTrips(t *testing.T) {
	for _, v := range []float64{1e21, 1e-7, 1e300, 5e-324, math.MaxFloat64, -math.SmallestNonzeroFloat64, 1.0 / 3, -2.5} {
		s := string(AppendValue(nil, v))
		for _, c := range s {
			if c == 'e' || c == 'E' {
				t.Fatalf("AppendValue(%g) = %q: exponent form", v, s)
			}
		}
		back, err := strconv.ParseFloat(s, 64)
		if err != nil || back != v {
			t.Fatalf("AppendValue(%g) = %q reads back as %g, %v", v, s, back, err)
		}
	}
}

func TestFinite(t *testing.T) {
	if Finite(math.NaN()) || Finite(math.Inf(1)) || Finite(math.Inf(-1)) || !Finite(0) || !Finite(-1e300) {
		t.Fatal("Finite wrong")
	}
}
