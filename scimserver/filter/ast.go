package filter

// AttrPath names an attribute in a filter or PATCH path:
// [URN ":"] Name ["." Sub]. Names keep the case the client sent; comparisons
// of names are case-insensitive. URN is empty for core-schema attributes.
type AttrPath struct {
	URN  string
	Name string
	Sub  string
}

// Operator is a comparison operator, always lower-case in the AST.
type Operator string

const (
	OpEq Operator = "eq"
	OpNe Operator = "ne"
	OpCo Operator = "co"
	OpSw Operator = "sw"
	OpEw Operator = "ew"
	OpGt Operator = "gt"
	OpGe Operator = "ge"
	OpLt Operator = "lt"
	OpLe Operator = "le"
	OpPr Operator = "pr"
)

// Expr is a filter expression node: *Compare, *Logical, *Not or *ValuePath.
type Expr interface{ isExpr() }

// Compare is `attrPath op value` (or `attrPath pr`, where Value is nil).
// Value is string, bool, float64 (JSON number), or nil (JSON null).
type Compare struct {
	Attr  AttrPath
	Op    Operator
	Value any
}

// Logical is `left and right` / `left or right`.
type Logical struct {
	And         bool // false means "or"
	Left, Right Expr
}

// Not is `not (x)`.
type Not struct{ X Expr }

// ValuePath is `attr[filter]`, optionally followed by `.sub` when used as the
// left side of a comparison (Entra: `emails[type eq "work"].value eq "x"`,
// which the parser turns into a ValuePath whose Filter is the bracket filter
// AND-ed with a comparison on the sub-attribute).
type ValuePath struct {
	Attr   AttrPath // Sub is empty
	Filter Expr     // evaluated against each element of the multi-valued attribute
}

func (*Compare) isExpr()   {}
func (*Logical) isExpr()   {}
func (*Not) isExpr()       {}
func (*ValuePath) isExpr() {}

// SyntaxError reports where a filter is malformed and what was expected.
type SyntaxError struct {
	Input string
	Pos   int    // byte offset of the offending token
	Msg   string // e.g. `expected comparison operator, found "foo"`
}
