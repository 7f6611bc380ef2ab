package store

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/scim-operator/scim-operator/api/v1alpha1"
	"github.com/scim-operator/scim-operator/internal/jsonenc"
	"github.com/scim-operator/scim-operator/internal/membership"
	scimschema "github.com/scim-operator/scim-operator/scimserver/schema"
)

func benchUser(i int) *identityv1alpha1.ScimUser {
	active := true
	name := "u-" + strconv.Itoa(i) + "@example.com"
	return &identityv1alpha1.ScimUser{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "dir", Name: fmt.Sprintf("0b0e7c4e-6a43-4c52-9a55-%012d", i),
			CreationTimestamp: metav1.Now(),
			Generation:        1,
			Annotations:       map[string]string{identityv1alpha1.LastModifiedAnnotation: time.Now().UTC().Format(time.RFC3339Nano)},
		},
		Spec: identityv1alpha1.ScimUserSpec{
			UserName: name, ExternalID: "ext-" + strconv.Itoa(i),
			Name:        &identityv1alpha1.Name{GivenName: "Sync", FamilyName: "User" + strconv.Itoa(i)},
			DisplayName: "Sync User " + strconv.Itoa(i), Active: &active, Locale: "en-US",
			Emails: []identityv1alpha1.MultiValue{{Value: name, Type: "work", Primary: true}},
		},
	}
}

// BenchmarkListPageRender renders and encodes a page of 100 users that are
// in 8 groups each (two of them every user's), as a list page does: the
// CPU and allocations of a page, without HTTP and the cache.
func BenchmarkListPageRender(b *testing.B) {
	const pageSize, groupsEach = 100, 8
	users := make([]*identityv1alpha1.ScimUser, pageSize)
	for i := range users {
		users[i] = benchUser(i)
	}
	x := membership.NewIndex()
	h := x.GroupHandler()
	addGroup := func(name string, members []*identityv1alpha1.ScimUser) {
		g := &identityv1alpha1.ScimGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: "dir", Name: name, ResourceVersion: "1"},
			Spec:       identityv1alpha1.ScimGroupSpec{DisplayName: "group " + name},
		}
		for _, u := range members {
			g.Spec.Members = append(g.Spec.Members, identityv1alpha1.Member{Value: u.Name, Type: identityv1alpha1.MemberUser})
		}
		h.OnAdd(g, true)
	}
	addGroup("all-employees", users)
	addGroup("all-staff", users)
	for k := range pageSize * (groupsEach - 2) / 10 {
		var members []*identityv1alpha1.ScimUser
		for j := range 10 {
			members = append(members, users[(k*7+j*13)%pageSize])
		}
		addGroup(fmt.Sprintf("g-%04d", k), members)
	}
	s := &Store{Members: x}
	d := Dir{Namespace: "dir", BaseURL: "https://scim.example.com/dir/v2"}
	var buf bytes.Buffer
	var scratch []byte
	b.ReportAllocs()
	for b.Loop() {
		finder := s.groupFinder(d)
		buf.Reset()
		for _, u := range users {
			res, err := s.renderWith(b.Context(), d, Users, u, finder)
			if err != nil {
				b.Fatal(err)
			}
			out := scimschema.ProjectShared(Users.RT, res, nil, nil)
			if scratch, err = jsonenc.Append(scratch[:0], out); err != nil {
				b.Fatal(err)
			}
			buf.Write(scratch)
		}
	}
	b.ReportMetric(float64(buf.Len())/pageSize, "B/user")
}
