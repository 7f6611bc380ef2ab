package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// sameAsEncodingJSON fails unless Marshal writes exactly what json.Marshal
// writes for v.
func sameAsEncodingJSON(t *testing.T, v any) {
	t.Helper()
	want, werr := json.Marshal(v)
	got, gerr := Marshal(v)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("Marshal(%#v): err = %v, encoding/json: %v", v, gerr, werr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Errorf("Marshal(%#v)\n got %s\nwant %s", v, got, want)
	}
}

func TestMarshalWritesWhatEncodingJSONWrites(t *testing.T) {
	every := make([]byte, 256)
	for i := range every {
		every[i] = byte(i)
	}
	for _, v := range []any{
		nil, true, false, "", "plain", "quote\" back\\slash", "<script>&amp;</script>",
		"tab\tnew\nline\rcr\bbs\fff\x00\x01\x1f\x7f", "é ünïcödé 日本 😀", "\u2028\u2029",
		"\xff\xfe broken \xc3", "\xed\xa0\x80 surrogate", string(every),
		int64(-42), 7, int32(3), 1.5, 1e21, 1e-7, 0.1, math.MaxInt64, json.Number("12"),
		map[string]any(nil), []any(nil), []string(nil), map[string]any{}, []any{}, []string{},
		[]string{"urn:a", "b<"},
		map[string]any{"b": 1.0, "a": "x", "A": true, "ä": nil, "": []any{map[string]any{"z": "1", "y": int64(2)}}},
		map[string]any{"userName": "bjensen", "name": map[string]any{"givenName": "B", "familyName": "J"},
			"emails": []any{map[string]any{"value": "b@example.com", "type": "work", "primary": true}},
			"meta":   map[string]any{"version": int64(3), "location": "https://h/v2/Users/1"}},
		struct{ A int }{1},
	} {
		sameAsEncodingJSON(t, v)
	}
	if _, err := Marshal(map[string]any{"bad": math.NaN()}); err == nil {
		t.Error("NaN: no error")
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "<>&", "\u2028", "\xff", "日本\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sameAsEncodingJSON(t, s)
		sameAsEncodingJSON(t, map[string]any{s: []any{s, map[string]any{"k": s}}})
	})
}
