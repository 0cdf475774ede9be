// Package notify owns repository notifications: the events a config may
// bind (Quay's names, their event_config and sample data), the delivery
// methods (webhook, Slack incoming webhook, email over SMTP, in-app
// quay_notification) and the delivery of one job (store.JobNotification):
// it builds Quay's payload, performs the method, records the attempt and
// disables a config that failed too often.
//
// Events are emitted by the store (store.DB.EmitNotification for one
// repository, store.DB.EmitNamespaceNotification for every repository of a
// namespace, or inside a store transaction for changes the store makes:
// repo_push from PutManifest, vulnerability_found from PutManifestScan,
// quota_warning and quota_error when a push crosses a quota threshold,
// repo_image_expiry from the periodic store.DB.NotifyExpiringTags); each
// emitted event is one job per config, retried with backoff by the job
// queue when delivery fails. A vulnerability_found config's level (Quay's
// priority index, or name) is applied at delivery.
//
// It imports store and core only; it never imports the HTTP edges or the
// queue (app registers Deliver as the job's handler).
package notify
