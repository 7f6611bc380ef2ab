// Package filter parses and evaluates SCIM 2.0 filter expressions
// (RFC 7644 §3.4.2.2). It knows nothing of Kubernetes.
//
// The parser is hand-written recursive descent rather than
// github.com/scim2/filter-parser/v2 because that parser rejects forms real
// identity providers send — Entra ID's `emails[type eq "work"].value eq "a@b.c"`
// and unquoted values such as `externalId eq jyoung` — and its errors
// ("parse conflict [00:001]: expected op.Or") cannot be turned into a useful
// SCIM error detail. Here every error is a *SyntaxError naming the byte
// position, what was expected and what was found; ToSCIM turns it into a
// 400 invalidFilter response.
//
// The same lexer and parser serve PATCH paths (package path) through
// ParseAttrPath and ParseValuePath.
//
// Besides the RFC grammar, Parse accepts:
//   - case-insensitive operators and keywords (`userName EQ "x"`, `NOT (…)`);
//   - a bare word as a value: `externalId eq jyoung` (true, false, null and JSON
//     numbers keep their meaning, except after co, sw and ew where any bare
//     word is a string);
//   - `attr[filter].sub op value`, parsed as attr[filter and sub op value].
package filter
