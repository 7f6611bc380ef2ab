package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"ascii", "abcdef", 3, "abc…"},
		{"no split of a rune", "aé", 2, "a…"},
		{"zero", "abc", 0, "…"},
		{"negative", "abc", -1, "…"},
		// Only continuation bytes: there is no rune start to back up to.
		// This input once indexed s[-1].
		{"continuation bytes only", strings.Repeat("\x80", 10), 4, strings.Repeat("\x80", 4) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.in, tc.n); got != tc.want {
				t.Errorf("String(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func FuzzString(f *testing.F) {
	f.Add("héllo wörld", 4)
	f.Add(strings.Repeat("\xbf", 300), 200)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 1000
		got := String(s, n)
		if len(got) > max(n, 0)+len("…") {
			t.Fatalf("String(%q, %d) is %d bytes", s, n, len(got))
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("String(%q, %d) = %q split a rune", s, n, got)
		}
	})
}
