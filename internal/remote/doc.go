// Package remote implements store.Store over the troika.v1 API of a Troika
// server, so the root SDK's Client and Worker run unchanged against a
// remote server (troika.Dial). Jobs, leases, acks and heartbeats map to
// JobService, QueueService and WorkerService calls; schedules
// (store.ScheduleStore) to ScheduleService and the message queue
// (store.TopicStore, store.OrderingStore) to TopicService; wake-ups come
// from the WorkerService.Watch stream. Store methods that have no wire
// equivalent (leader leases, lease sweeping, promotion, timetabled schedule
// fires, topic trims: the server runs maintenance) return an error
// matching errors.ErrUnsupported.
//
// It imports store, internal/wire, gen and the Connect runtime.
package remote
