package operator

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record"
)

// boundedRecorder records the Event of every SCIM write through the core/v1
// recorder. The events.k8s.io broadcaster keeps every Event it sent for six
// to twelve minutes to build series: during an initial sync of 100,000 users
// that was one cached Event per user, some hundreds of MiB. The core/v1
// recorder correlates through an LRU cache of 4,096 entries instead. Both
// write the same Event objects.
type boundedRecorder struct{ record.EventRecorder }

var _ events.EventRecorder = boundedRecorder{}

// Eventf implements events.EventRecorder; related and action have no place in
// a core/v1 Event and are dropped.
func (r boundedRecorder) Eventf(regarding, _ runtime.Object, eventtype, reason, _, note string, args ...any) {
	r.EventRecorder.Eventf(regarding, eventtype, reason, note, args...)
}
