package store

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fill sets every field reachable from v (a pointer): strings, booleans and
// numbers to non-zero values, pointers to new values, slices to two
// elements, so that no omitempty field is left out.
func fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 8 {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		if depth > 8 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), depth+1)
		}
	case reflect.String:
		v.SetString("x<&>\u2028" + v.Type().Name())
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	}
}

// toSCIM converts a spec without a JSON round trip; it must give exactly
// what the round trip gives, for every attribute a spec can hold (a number
// would come out as int64 instead of float64, which this catches), but a
// group's members, which render adds.
func TestToSCIMIsTheJSONRoundTrip(t *testing.T) {
	for _, k := range []*Kind{Users, Groups} {
		for _, full := range []bool{false, true} {
			obj := k.newObj()
			if full {
				fill(reflect.ValueOf(k.spec(obj)), 0)
			}
			got, err := k.toSCIM(obj)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(k.spec(obj))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{}
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			delete(want, membershipField)
			delete(want, "members") // render adds a group's members (Members)
			if ext, ok := want[enterpriseField]; ok {
				delete(want, enterpriseField)
				want["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = ext
			}
			if full && len(got) < 10 && k == Users {
				t.Fatalf("fill left most attributes out: %v", got)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s (all fields set: %v):\n got %#v\nwant %#v", k.Endpoint, full, got, want)
			}
		}
	}
}
