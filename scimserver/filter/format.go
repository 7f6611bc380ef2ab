package filter

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// String returns the path as `[URN ":"] Name ["." Sub]`.
func (a AttrPath) String() string {
	s := a.Name
	if a.URN != "" {
		s = a.URN + ":" + s
	}
	if a.Sub != "" {
		s += "." + a.Sub
	}
	return s
}

// EqualFold reports whether a and b name the same attribute, ignoring case.
func (a AttrPath) EqualFold(b AttrPath) bool {
	return strings.EqualFold(a.URN, b.URN) && strings.EqualFold(a.Name, b.Name) && strings.EqualFold(a.Sub, b.Sub)
}

// String returns the canonical text of e: lower-case keywords, quoted
// strings, parentheses only where needed. Parse(String(e)) gives back e.
func String(e Expr) string {
	var b strings.Builder
	write(&b, e)
	return b.String()
}

func write(b *strings.Builder, e Expr) {
	switch e := e.(type) {
	case *Compare:
		b.WriteString(e.Attr.String())
		b.WriteString(" " + string(e.Op))
		if e.Op != OpPr {
			b.WriteString(" " + formatValue(e.Value))
		}
	case *Logical:
		// "and" binds tighter than "or"; both associate to the left.
		left, _ := e.Left.(*Logical)
		right, _ := e.Right.(*Logical)
		writeOperand(b, e.Left, e.And && left != nil && !left.And)
		if e.And {
			b.WriteString(" and ")
		} else {
			b.WriteString(" or ")
		}
		writeOperand(b, e.Right, right != nil && (e.And || !right.And))
	case *Not:
		b.WriteString("not ")
		writeOperand(b, e.X, true)
	case *ValuePath:
		b.WriteString(e.Attr.String())
		b.WriteByte('[')
		write(b, e.Filter)
		b.WriteByte(']')
	}
}

func writeOperand(b *strings.Builder, e Expr, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	write(b, e)
	if paren {
		b.WriteByte(')')
	}
}

func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return quote(v)
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case json.Number:
		return v.String()
	case int, int64, int32, uint, uint64, uint32, float32:
		return fmt.Sprint(v)
	}
	return quote(fmt.Sprint(v))
}

// quote returns s as a JSON string literal.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
