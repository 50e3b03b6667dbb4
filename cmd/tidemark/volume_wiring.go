package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/cachevol"
	"github.com/tidemark/tidemark/hsm/localvol"
	"github.com/tidemark/tidemark/hsm/s3vol"
	"github.com/tidemark/tidemark/hsm/volopen"
	"github.com/tidemark/tidemark/internal/datadir"
)

// The keys of S3 volumes come from the standard AWS environment variables
// of the process that opens them (the server, or a command run without
// one): never from the command line, the registry or a log line.
const (
	awsAccessEnv = "AWS_ACCESS_KEY_ID"
	awsSecretEnv = "AWS_SECRET_ACCESS_KEY"
)

// volumeRetry is the policy of every call to an S3 volume: a deadline per
// call and few, short retries, so that a FETCH of a message on an
// unreachable store fails within seconds with a temporary error instead of
// hanging, while local volumes go on.
var volumeRetry = hsm.RetryOptions{MaxAttempts: 3, InitialBackoff: 200 * time.Millisecond,
	MaxBackoff: 2 * time.Second, CallTimeout: 30 * time.Second}

// volumeOpener opens the registry's volumes for the engine: local ones
// through hsm/volopen, S3 ones through hsm/s3vol with keys from the
// environment, behind a read cache of cacheBytes in <data>/cache/<name>
// (0: none).
func volumeOpener(dataDir string, cacheBytes int64, log *slog.Logger) hsm.Opener {
	local := volopen.Local(volopen.Env{DataDir: dataDir, Now: time.Now, Logger: log})
	return func(ctx context.Context, s hsm.Spec) (hsm.Volume, error) {
		if s.Type != hsm.TypeS3 {
			return local(ctx, s)
		}
		v, err := openS3Volume(ctx, s, false)
		if err != nil || cacheBytes <= 0 {
			return v, err
		}
		dir := datadir.CacheDir(dataDir, s.Name)
		cache, err := localvol.New(vfs.Default, dir, nil)
		if err != nil {
			return nil, fmt.Errorf("volume %s: read cache %s: %w", s.Name, dir, err)
		}
		cv, err := cachevol.New(ctx, v, cache, cacheBytes)
		if err != nil {
			return nil, fmt.Errorf("volume %s: read cache %s: %w", s.Name, dir, err)
		}
		return cv, nil
	}
}

// openS3Volume opens an S3 volume, wrapped with volumeRetry.
func openS3Volume(ctx context.Context, s hsm.Spec, create bool) (hsm.Volume, error) {
	if s.S3 == nil {
		return nil, fmt.Errorf("volume %s: no S3 settings", s.Name)
	}
	ak, sk := os.Getenv(awsAccessEnv), os.Getenv(awsSecretEnv)
	if ak == "" || sk == "" {
		return nil, fmt.Errorf("volume %s: S3 keys missing: set %s and %s in the environment of the server", s.Name, awsAccessEnv, awsSecretEnv)
	}
	v, err := s3vol.New(ctx, s3vol.Options{Endpoint: s.S3.Endpoint, Region: s.S3.Region, Bucket: s.S3.Bucket,
		Prefix: s.S3.Prefix, AccessKey: ak, SecretKey: sk, UseTLS: s.S3.TLS, StorageClass: s.S3.StorageClass,
		CreateBucket: create})
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", s.Name, err)
	}
	return hsm.WithRetry(v, volumeRetry), nil
}
