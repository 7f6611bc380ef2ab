package scimserver

import (
	"bufio"
	"net/http"
	"sync"

	"github.com/scim-operator/scim-operator/internal/jsonenc"
	"github.com/scim-operator/scim-operator/scimserver/schema"
	"github.com/scim-operator/scim-operator/scimserver/store"
)

// A group's members come from the store as *store.Members, not as JSON
// values, and are streamed into the response: a group of 100,000
// members is about 8 MB of JSON, which is written as it is produced instead
// of being built as 100,000 maps first.

// streamed is a projected resource whose members are streamed.
type streamed struct {
	res     map[string]any
	members *store.Members
	include map[string]bool
}

// projectStreamed projects res like schema.Project. When res holds streamed
// members that the projection keeps, they are returned apart, with the
// sub-attributes to send, found by projecting one sample member.
func (h *resourceHandler) projectStreamed(res map[string]any, p projection) streamed {
	m, ok := res["members"].(*store.Members)
	if !ok {
		return streamed{res: schema.ProjectShared(h.k.RT, res, p.attributes, p.excluded)}
	}
	stub := make(map[string]any, len(res))
	for k, v := range res {
		stub[k] = v
	}
	stub["members"] = []any{map[string]any{"value": "v", "$ref": "r", "type": "User", "display": "d"}}
	out := schema.Project(h.k.RT, stub, p.attributes, p.excluded)
	sample, _ := out["members"].([]any)
	delete(out, "members")
	if len(sample) == 0 || m.Len() == 0 {
		return streamed{res: out}
	}
	include := map[string]bool{}
	if e, ok := sample[0].(map[string]any); ok {
		for k := range e {
			include[k] = true
		}
	}
	return streamed{res: out, members: m, include: include}
}

// writeTo writes the resource as one JSON object, encoding it in scratch,
// which it returns (grown if needed) for the next resource.
func (s streamed) writeTo(w *bufio.Writer, scratch []byte) ([]byte, error) {
	raw, err := jsonenc.Append(scratch[:0], s.res)
	if err != nil {
		return raw, err
	}
	if s.members == nil {
		_, err = w.Write(raw)
		return raw, err
	}
	// raw is "{...}": reopen it and append the members.
	w.Write(raw[:len(raw)-1])
	if len(raw) > 2 {
		w.WriteByte(',')
	}
	w.WriteString(`"members":`)
	if err := s.members.WriteJSON(w, func(sub string) bool { return s.include[sub] }); err != nil {
		return raw, err
	}
	return raw, w.WriteByte('}')
}

// writeStreamed sends one resource.
func writeStreamed(w http.ResponseWriter, status int, s streamed) {
	if s.members == nil {
		writeJSON(w, status, s.res)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	bw := getWriter(w)
	defer putWriter(bw)
	if _, err := s.writeTo(bw, nil); err == nil {
		bw.WriteByte('\n')
	}
	_ = bw.Flush()
}

// writers recycles the 64 KiB response buffers of streamed responses: one
// per list page was, at a few hundred pages a second, most of what a page
// allocated and a steady cause of garbage-collector assists.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

func getWriter(w http.ResponseWriter) *bufio.Writer {
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

// putWriter returns bw to the pool, dropping its reference to the response.
func putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	writers.Put(bw)
}

// writeStreamedList sends a ListResponse whose resources may stream members.
func writeStreamedList(w http.ResponseWriter, head map[string]any, resources []streamed) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	bw := getWriter(w)
	defer putWriter(bw)
	defer bw.Flush()
	raw, err := jsonenc.Marshal(head)
	if err != nil {
		return
	}
	bw.Write(raw[:len(raw)-1])
	bw.WriteString(`,"Resources":[`)
	// One buffer for every resource of the page.
	scratch := make([]byte, 0, 4<<10)
	for i, r := range resources {
		if i > 0 {
			bw.WriteByte(',')
		}
		if scratch, err = r.writeTo(bw, scratch); err != nil {
			return
		}
	}
	bw.WriteString("]}\n")
}
