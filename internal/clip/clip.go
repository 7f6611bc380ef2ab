// Package clip shortens client- or app-supplied text before it is quoted in
// an error detail, an Event or a status field, so that a hostile or broken
// peer cannot make those messages arbitrarily long.
package clip

import "unicode/utf8"

// String returns s cut to at most n bytes plus "…" when it was longer. The cut
// never splits a UTF-8 sequence; when s is not valid UTF-8 and no rune start
// is found, the cut falls at n so the result stays bounded.
func String(s string, n int) string {
	if n < 0 {
		n = 0
	}
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if cut == 0 {
		cut = n
	}
	return s[:cut] + "…"
}
