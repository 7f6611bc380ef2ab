package filter

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/scim-operator/scim-operator/internal/clip"
	"github.com/scim-operator/scim-operator/scimserver/scimerr"
)

// Limits that make hostile input cheap to reject.
const (
	MaxLength = 4096 // bytes in a filter or path
	MaxDepth  = 32   // nesting of "(", "not (" and "["
)

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s at position %d", e.Msg, e.Pos) }

// ToSCIM converts an error from Parse into a 400 invalidFilter SCIM error.
// A *scimerr.Error is returned unchanged; nil gives nil.
func ToSCIM(err error) *scimerr.Error {
	if err == nil {
		return nil
	}
	if se, ok := scimerr.As(err); ok {
		return se
	}
	if se, ok := err.(*SyntaxError); ok {
		return scimerr.BadRequest(scimerr.InvalidFilter, "invalid filter %q: %s", clip.String(se.Input, 200), se)
	}
	return scimerr.BadRequest(scimerr.InvalidFilter, "invalid filter: %s", err)
}

// Parse parses a SCIM filter (RFC 7644 §3.4.2.2). Errors are *SyntaxError.
func Parse(s string) (Expr, error) {
	p, err := newParser(s, "filter")
	if err != nil {
		return nil, err
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if err := p.closeWith(0); err != nil {
		return nil, err
	}
	return e, nil
}

// ParseAttrPath parses `[URN ":"] name ["." sub]`, as used by PATCH paths and
// the attributes, excludedAttributes and sortBy parameters. Errors are *SyntaxError.
func ParseAttrPath(s string) (AttrPath, error) {
	p, err := newParser(s, "attribute path")
	if err != nil {
		return AttrPath{}, err
	}
	a, err := p.firstAttrPath()
	if err != nil {
		return AttrPath{}, err
	}
	if p.skipSpace(); p.pos < len(p.s) {
		return AttrPath{}, p.errf(p.pos, "expected end of attribute path, found %s", p.found(p.pos))
	}
	return a, nil
}

// ParseValuePath parses a PATCH path (RFC 7644 §3.5.2):
// attrPath, or attrPath "[" valFilter "]" ["." subAttr]. f is nil when there
// is no value filter. Errors are *SyntaxError.
func ParseValuePath(s string) (attr AttrPath, f Expr, sub string, err error) {
	p, err := newParser(s, "path")
	if err != nil {
		return attr, nil, "", err
	}
	if attr, err = p.firstAttrPath(); err != nil {
		return attr, nil, "", err
	}
	want := `"[" or end of path`
	if p.skipSpace(); p.peek() == '[' {
		if f, err = p.bracket(attr); err != nil {
			return attr, nil, "", err
		}
		want = `"." or end of path`
		if p.peek() == '.' {
			p.pos++
			if sub, err = p.subAttr(); err != nil {
				return attr, nil, "", err
			}
			want = "end of path"
		}
	}
	if p.skipSpace(); p.pos < len(p.s) {
		return attr, nil, "", p.errf(p.pos, "expected %s, found %s", want, p.found(p.pos))
	}
	return attr, f, sub, nil
}

type parser struct {
	s         string
	pos       int
	depth     int
	inBracket bool
	what      string // "filter", "path": for messages
}

func newParser(s, what string) (*parser, error) {
	p := &parser{s: s, what: what}
	if len(s) > MaxLength {
		return nil, p.errf(MaxLength, "%s is %d bytes long, more than the maximum of %d", what, len(s), MaxLength)
	}
	if !utf8.ValidString(s) {
		i := 0
		for {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return nil, p.errf(i, "%s is not valid UTF-8", what)
	}
	return p, nil
}

func (p *parser) errf(pos int, format string, args ...any) error {
	return &SyntaxError{Input: p.s, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Lexer. Tokens are "(", ")", "[", "]", JSON strings and words: maximal runs
// of anything else but whitespace. Attribute paths, operators, keywords and
// bare values are all words.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDelim(c byte) bool { return isSpace(c) || strings.IndexByte(`()[]"`, c) >= 0 }

func (p *parser) skipSpace() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

func (p *parser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

// word skips whitespace and consumes the next word, returning it and its
// offset; the word is empty if a delimiter or the end comes first.
func (p *parser) word() (string, int) {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && !isDelim(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos], start
}

// keyword consumes the next word if it is kw, ignoring case.
func (p *parser) keyword(kw string) bool {
	save := p.pos
	if w, _ := p.word(); strings.EqualFold(w, kw) {
		return true
	}
	p.pos = save
	return false
}

// found describes the token at pos (after whitespace) for error messages.
func (p *parser) found(pos int) string {
	for pos < len(p.s) && isSpace(p.s[pos]) {
		pos++
	}
	rest := p.s[pos:]
	switch {
	case rest == "":
		return "end of " + p.what
	case rest[0] == '"':
		if i := strings.IndexByte(rest[1:], '"'); i >= 0 {
			rest = rest[:i+2]
		}
		return "the string " + clip.String(rest, 32)
	case isDelim(rest[0]):
		return strconv.Quote(rest[:1])
	}
	n := 0
	for n < len(rest) && !isDelim(rest[n]) {
		n++
	}
	return strconv.Quote(clip.String(rest[:n], 32))
}

// Grammar (RFC 7644 §3.4.2.2, "and" binding tighter than "or"):
//
//	or    = and *("or" and)
//	and   = unary *("and" unary)
//	unary = "(" or ")" / "not" "(" or ")" / attrPath "[" or "]" ["." name op value] / attrPath op [value]

func (p *parser) or() (Expr, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		left = &Logical{Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) and() (Expr, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		right, err := p.unary()
		if err != nil {
			return nil, err
		}
		left = &Logical{And: true, Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) unary() (Expr, error) {
	p.skipSpace()
	start := p.pos
	if p.peek() == '(' {
		return p.group()
	}
	w, _ := p.word()
	if w == "" {
		return nil, p.errf(start, `expected an attribute name, "not" or "(", found %s`, p.found(start))
	}
	if strings.EqualFold(w, "not") {
		save := p.pos
		if p.skipSpace(); p.peek() == '(' {
			x, err := p.group()
			if err != nil {
				return nil, err
			}
			return &Not{X: x}, nil
		}
		// "not" may still be an attribute name: `not pr`.
		if op, pos := p.word(); !isOperator(op) {
			return nil, p.errf(pos, `expected "(" after "not", found %s`, p.found(pos))
		}
		p.pos = save
	}
	attr, err := p.attrPath(w, start)
	if err != nil {
		return nil, err
	}
	if p.skipSpace(); p.peek() != '[' {
		return p.comparison(attr, w)
	}
	f, err := p.bracket(attr)
	if err != nil {
		return nil, err
	}
	if p.peek() == '.' { // Entra: emails[type eq "work"].value eq "x"
		p.pos++
		sub, err := p.subAttr()
		if err != nil {
			return nil, err
		}
		c, err := p.comparison(AttrPath{Name: sub}, sub)
		if err != nil {
			return nil, err
		}
		f = &Logical{And: true, Left: f, Right: c}
	}
	return &ValuePath{Attr: attr, Filter: f}, nil
}

// enter records one more level of nesting at pos.
func (p *parser) enter(pos int) error {
	if p.depth++; p.depth > MaxDepth {
		return p.errf(pos, "%s nests more than %d levels deep", p.what, MaxDepth)
	}
	return nil
}

// group parses "(" or ")" with p at "(".
func (p *parser) group() (Expr, error) {
	if err := p.enter(p.pos); err != nil {
		return nil, err
	}
	p.pos++
	x, err := p.or()
	if err == nil {
		err = p.closeWith(')')
	}
	p.depth--
	if err != nil {
		return nil, err
	}
	return x, nil
}

// bracket parses "[" valFilter "]" after attr, with p at "[".
func (p *parser) bracket(attr AttrPath) (Expr, error) {
	switch {
	case p.inBracket:
		return nil, p.errf(p.pos, "value filters cannot be nested")
	case attr.Sub != "":
		return nil, p.errf(p.pos, "a value filter cannot follow the sub-attribute %q", attr.String())
	}
	if err := p.enter(p.pos); err != nil {
		return nil, err
	}
	p.pos++
	p.inBracket = true
	f, err := p.or()
	if err == nil {
		err = p.closeWith(']')
	}
	p.inBracket = false
	p.depth--
	if err != nil {
		return nil, err
	}
	return f, nil
}

// closeWith consumes the closing c after an expression, or checks for the
// end of input if c is 0.
func (p *parser) closeWith(c byte) error {
	p.skipSpace()
	if c == 0 && p.pos == len(p.s) {
		return nil
	}
	if c != 0 && p.peek() == c {
		p.pos++
		return nil
	}
	want := "end of " + p.what
	if c != 0 {
		want = strconv.Quote(string(c))
	}
	return p.errf(p.pos, `expected "and", "or" or %s, found %s`, want, p.found(p.pos))
}

func (p *parser) firstAttrPath() (AttrPath, error) {
	w, pos := p.word()
	if w == "" {
		return AttrPath{}, p.errf(pos, "expected an attribute name, found %s", p.found(pos))
	}
	return p.attrPath(w, pos)
}

// attrPath splits word w at pos into [URN ":"] name ["." sub]; the URN is
// everything up to the last ":".
func (p *parser) attrPath(w string, pos int) (AttrPath, error) {
	var a AttrPath
	rest := w
	if i := strings.LastIndexByte(w, ':'); i >= 0 {
		if i == 0 {
			return a, p.errf(pos, `expected a schema URN before ":"`)
		}
		a.URN, rest, pos = w[:i], w[i+1:], pos+i+1
		if rest == "" {
			return a, p.errf(pos, "expected an attribute name after %q, found %s", clip.String(w, 80), p.found(pos))
		}
	}
	name, sub, dot := strings.Cut(rest, ".")
	if !isAttrName(name) {
		return a, p.errf(pos, "expected an attribute name, found %q", clip.String(rest, 32))
	}
	if dot && !isAttrName(sub) {
		return a, p.errf(pos+len(name)+1, "expected a sub-attribute name after %q, found %q", name, clip.String(sub, 32))
	}
	a.Name, a.Sub = name, sub
	return a, nil
}

// subAttr parses the name right after "].".
func (p *parser) subAttr() (string, error) {
	pos := p.pos
	for p.pos < len(p.s) && !isDelim(p.s[p.pos]) {
		p.pos++
	}
	w := p.s[pos:p.pos]
	if !isAttrName(w) {
		p.skipSpace()
		pos = p.pos
		return "", p.errf(pos, `expected a sub-attribute name after ".", found %s`, p.found(pos))
	}
	return w, nil
}

// isAttrName reports whether s is an RFC 7643 attribute name:
// ALPHA *("-" / "_" / DIGIT / ALPHA), or "$ref".
func isAttrName(s string) bool {
	if strings.EqualFold(s, "$ref") {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := 'a' <= c|0x20 && c|0x20 <= 'z'
		if !alpha && (i == 0 || !('0' <= c && c <= '9' || c == '-' || c == '_')) {
			return false
		}
	}
	return s != ""
}

func isOperator(w string) bool {
	switch Operator(strings.ToLower(w)) {
	case OpEq, OpNe, OpCo, OpSw, OpEw, OpGt, OpGe, OpLt, OpLe, OpPr:
		return true
	}
	return false
}

// comparison parses `op [value]` after attr (spelled label in the input).
func (p *parser) comparison(attr AttrPath, label string) (Expr, error) {
	w, pos := p.word()
	if !isOperator(w) {
		return nil, p.errf(pos, "expected a comparison operator after %q, found %s", clip.String(label, 80), p.found(pos))
	}
	op := Operator(strings.ToLower(w))
	if op == OpPr {
		return &Compare{Attr: attr, Op: op}, nil
	}
	v, err := p.value(op)
	if err != nil {
		return nil, err
	}
	return &Compare{Attr: attr, Op: op, Value: v}, nil
}

// value parses a comparison value: a JSON string, true, false, null, a JSON
// number, or (leniently) a bare word taken as a string.
func (p *parser) value(op Operator) (any, error) {
	p.skipSpace()
	pos := p.pos
	if p.peek() == '"' {
		return p.str()
	}
	w, _ := p.word()
	if w == "" {
		return nil, p.errf(pos, "expected a value after %q, found %s", op, p.found(pos))
	}
	if op == OpCo || op == OpSw || op == OpEw {
		return w, nil
	}
	switch lw := strings.ToLower(w); lw {
	case "true", "false", "null":
		if op != OpEq && op != OpNe {
			return nil, p.errf(pos, "%q cannot compare with %s; only eq and ne can", op, lw)
		}
		if lw == "null" {
			return nil, nil
		}
		return lw == "true", nil
	}
	if f, ok := jsonNumber(w); ok {
		return f, nil
	}
	return w, nil
}

// str parses a JSON string literal with p at its opening quote.
func (p *parser) str() (string, error) {
	start, i := p.pos, p.pos+1
	for ; i < len(p.s) && p.s[i] != '"'; i++ {
		if p.s[i] == '\\' {
			i++
		}
	}
	if i >= len(p.s) {
		return "", p.errf(start, "unterminated string")
	}
	var s string
	if err := json.Unmarshal([]byte(p.s[start:i+1]), &s); err != nil {
		return "", p.errf(start, "invalid JSON string %s: %v", clip.String(p.s[start:i+1], 32), err)
	}
	p.pos = i + 1
	return s, nil
}

// jsonNumber parses s if it has JSON number syntax and fits a float64.
func jsonNumber(s string) (float64, bool) {
	i := 0
	digits := func() bool {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if !digits() {
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		if i++; !digits() {
			return 0, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		if i++; i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
