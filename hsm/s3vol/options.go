package s3vol

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tidemark/tidemark/hsm"
)

// Options configures New.
type Options struct {
	Endpoint  string // host:port of the S3 service, no scheme
	Bucket    string
	Prefix    string // key prefix for every object, e.g. "server1"; "" for none
	AccessKey string
	SecretKey string
	Region    string // default "us-east-1"
	UseTLS    bool   // https instead of http
	// StorageClass of new objects ("" : the bucket's default, e.g.
	// STANDARD; STANDARD_IA, GLACIER_IR... as the store supports).
	StorageClass string

	// CreateBucket makes New create the bucket if it does not exist. Without
	// it New does no network I/O, so a server can start while the store is
	// down; a missing bucket then shows as a permanent error on first use.
	CreateBucket bool

	// PartSize is the multipart part size and the buffer used for objects of
	// unknown size (default 16 MiB, minimum 5 MiB). Memory per concurrent
	// upload is a few parts.
	PartSize uint64

	// MaxRetries bounds minio-go's internal retries per request (default 3;
	// 1 means none). Longer waits belong to hsm.WithRetry.
	MaxRetries int

	// Transport overrides the HTTP transport (custom CA, proxies, tests).
	Transport http.RoundTripper
}

const (
	defaultPartSize = 16 << 20
	minPartSize     = 5 << 20
)

// withDefaults fills defaults and validates; the prefix comes back ending in
// "/" unless empty.
func (o Options) withDefaults() (Options, error) {
	if o.Endpoint == "" {
		return o, fmt.Errorf("s3vol: options: endpoint is empty")
	}
	if strings.Contains(o.Endpoint, "://") {
		return o, fmt.Errorf("s3vol: options: endpoint %q must be host:port without a scheme (use UseTLS)", o.Endpoint)
	}
	if o.Bucket == "" {
		return o, fmt.Errorf("s3vol: options: bucket is empty")
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.PartSize == 0 {
		o.PartSize = defaultPartSize
	}
	if o.PartSize < minPartSize {
		return o, fmt.Errorf("s3vol: options: part size %d below the S3 minimum %d", o.PartSize, minPartSize)
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = 3
	}
	o.Prefix = strings.Trim(o.Prefix, "/")
	if o.Prefix != "" {
		if err := hsm.CheckName(o.Prefix); err != nil {
			return o, fmt.Errorf("s3vol: options: prefix: %w", err)
		}
		o.Prefix += "/"
	}
	return o, nil
}
