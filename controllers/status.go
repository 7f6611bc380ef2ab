package controllers

import (
	"k8s.io/apimachinery/pkg/api/equality"
)

// equalStatus reports whether a reconcile changed nothing worth a write.
func equalStatus(a, b any) bool { return equality.Semantic.DeepEqual(a, b) }
