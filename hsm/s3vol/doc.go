// Package s3vol is an hsm.Volume in a bucket of an S3-compatible object store
// (AWS S3, MinIO, Ceph RGW, versitygw), and the only package that imports
// minio-go. Objects live under an optional key prefix, so several tidemark
// servers can share one bucket, each under its own prefix.
//
// S3 writes each object whole, so Put is atomic without temporary names.
// Errors are mapped in one place (mapErr): NoSuchKey becomes hsm.ErrNotFound,
// access errors hsm.ErrPermission, other 4xx permanent, 5xx and network
// failures temporary. Retrying is left to hsm.WithRetry; minio-go's own
// retries are limited by Options.MaxRetries.
package s3vol
