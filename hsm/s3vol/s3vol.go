package s3vol

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tidemark/tidemark/hsm"
)

// Volume is an hsm.Volume in an S3 bucket under a key prefix.
type Volume struct {
	c      *minio.Client
	core   minio.Core
	bucket string
	prefix string // "" or ends in "/"
	opts   Options
}

var _ hsm.Volume = (*Volume)(nil)

// New connects to the store. It does network I/O only when
// opts.CreateBucket is set, to check for and create the bucket.
func New(ctx context.Context, opts Options) (*Volume, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := minio.New(o.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
		Secure:       o.UseTLS,
		Region:       o.Region,
		Transport:    o.Transport,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   o.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3vol: new client for %s: %w", o.Endpoint, err)
	}
	v := &Volume{c: c, core: minio.Core{Client: c}, bucket: o.Bucket, prefix: o.Prefix, opts: o}
	if o.CreateBucket {
		if err := v.ensureBucket(ctx); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (v *Volume) ensureBucket(ctx context.Context) error {
	ok, err := v.c.BucketExists(ctx, v.bucket)
	if err != nil {
		return fmt.Errorf("s3vol: check bucket %s: %w", v.bucket, mapErr(err))
	}
	if ok {
		return nil
	}
	err = v.c.MakeBucket(ctx, v.bucket, minio.MakeBucketOptions{Region: v.opts.Region})
	var er minio.ErrorResponse
	if errors.As(err, &er) && (er.Code == "BucketAlreadyOwnedByYou" || er.Code == "BucketAlreadyExists") {
		return nil // created concurrently
	}
	if err != nil {
		return fmt.Errorf("s3vol: create bucket %s: %w", v.bucket, mapErr(err))
	}
	return nil
}

// String names the volume for logs: s3://bucket/prefix at the endpoint.
func (v *Volume) String() string {
	return fmt.Sprintf("s3://%s/%s (%s)", v.bucket, v.prefix, v.opts.Endpoint)
}

func (v *Volume) key(name string) string { return v.prefix + name }

// check validates the name and the context before a request.
func check(ctx context.Context, op, name string) error {
	if err := hsm.CheckName(name); err != nil {
		return fmt.Errorf("s3vol: %s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3vol: %s %s: %w", op, name, err)
	}
	return nil
}

func (v *Volume) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := check(ctx, "put", name); err != nil {
		return err
	}
	if size >= 0 {
		r = &exactReader{r: r, left: size, name: name}
	}
	_, err := v.c.PutObject(ctx, v.bucket, v.key(name), r, size, minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		PartSize:     v.opts.PartSize,
		StorageClass: v.opts.StorageClass,
	})
	if err != nil {
		if errors.Is(err, hsm.ErrSizeMismatch) {
			return fmt.Errorf("s3vol: put %s: %w", name, hsm.ErrSizeMismatch)
		}
		return fmt.Errorf("s3vol: put %s: %w", name, mapErr(err))
	}
	return nil
}

var _ hsm.VerifyingPutter = (*Volume)(nil)

// PutVerified stores data with its MD5 in Content-MD5, which the store
// checks against the body it received (refusing a mismatch, BadDigest),
// and for a single-part upload compares the ETag it answers, the MD5 of
// what it stored, with the digest sent.
func (v *Volume) PutVerified(ctx context.Context, name string, data []byte) error {
	if err := check(ctx, "put", name); err != nil {
		return err
	}
	sum := md5.Sum(data)
	info, err := v.c.PutObject(ctx, v.bucket, v.key(name), bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType:    "application/octet-stream",
		PartSize:       v.opts.PartSize,
		StorageClass:   v.opts.StorageClass,
		SendContentMd5: true,
	})
	if err != nil {
		return fmt.Errorf("s3vol: put %s: %w", name, mapErr(err))
	}
	if uint64(len(data)) < v.opts.PartSize && !strings.EqualFold(strings.Trim(info.ETag, `"`), hex.EncodeToString(sum[:])) {
		return fmt.Errorf("s3vol: put %s: %w: the store answered ETag %s for MD5 %x", name, hsm.ErrDigestMismatch, info.ETag, sum)
	}
	return nil
}

// exactReader fails the upload if r yields more or fewer than the declared
// bytes. minio-go stops reading at the declared size, so without the check a
// longer reader would be stored truncated.
type exactReader struct {
	r    io.Reader
	left int64
	name string
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		if e.extra() {
			return 0, fmt.Errorf("put %s: %w: more bytes than declared", e.name, hsm.ErrSizeMismatch)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		return n, fmt.Errorf("put %s: %w: %d bytes short", e.name, hsm.ErrSizeMismatch, e.left)
	case err == nil && e.left == 0 && e.extra():
		return n, fmt.Errorf("put %s: %w: more bytes than declared", e.name, hsm.ErrSizeMismatch)
	}
	return n, err
}

// extra reports whether r has a byte beyond the declared size.
func (e *exactReader) extra() bool {
	var b [1]byte
	for {
		n, err := e.r.Read(b[:])
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// Get sends one GET and waits for its status before returning, so a missing
// object is reported here. minio-go's Client.GetObject would report it only
// at the first Read, and its Stat-then-Read costs two requests that a
// concurrent overwrite can split; Core.GetObject is the single request.
func (v *Volume) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := check(ctx, "get", name); err != nil {
		return nil, err
	}
	body, _, _, err := v.core.GetObject(ctx, v.bucket, v.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3vol: get %s: %w", name, mapErr(err))
	}
	return body, nil
}

// GetRange sends one ranged GET; the server clips a range running past the
// end. S3 refuses a range that starts at the end of an object, which the
// Volume contract allows (an empty read), so only then is the object
// stat'ed to tell "at the end" from "beyond the end".
func (v *Volume) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := check(ctx, "get range", name); err != nil {
		return nil, err
	}
	if off < 0 || length < -1 {
		return nil, fmt.Errorf("s3vol: get range %s: %w: offset %d length %d", name, hsm.ErrInvalidRange, off, length)
	}
	if off == 0 && length == -1 {
		return v.Get(ctx, name)
	}
	if length == 0 {
		return v.emptyRange(ctx, name, off, length)
	}
	var o minio.GetObjectOptions
	if length == -1 {
		o.Set("Range", fmt.Sprintf("bytes=%d-", off))
	} else {
		o.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	}
	body, _, _, err := v.core.GetObject(ctx, v.bucket, v.key(name), o)
	if err != nil {
		err = mapErr(err)
		if errors.Is(err, hsm.ErrInvalidRange) {
			return v.emptyRange(ctx, name, off, length)
		}
		return nil, fmt.Errorf("s3vol: get range %s: %w", name, err)
	}
	return body, nil
}

// emptyRange answers a range of no bytes: empty if off is within or at the
// end of the object, ErrInvalidRange beyond it.
func (v *Volume) emptyRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	info, err := v.Stat(ctx, name)
	if err != nil {
		return nil, err
	}
	n, err := hsm.CheckRange(info.Size, off, length)
	if err != nil {
		return nil, fmt.Errorf("s3vol: get range %s: %w", name, err)
	}
	if n != 0 {
		// The object grew between the GET and the stat.
		return nil, fmt.Errorf("s3vol: get range %s: %w", name, hsm.Temporary(errors.New("object changed during read")))
	}
	return io.NopCloser(bytes.NewReader(nil)), nil
}

func (v *Volume) Stat(ctx context.Context, name string) (hsm.ObjectInfo, error) {
	if err := check(ctx, "stat", name); err != nil {
		return hsm.ObjectInfo{}, err
	}
	info, err := v.c.StatObject(ctx, v.bucket, v.key(name), minio.StatObjectOptions{})
	if err != nil {
		return hsm.ObjectInfo{}, fmt.Errorf("s3vol: stat %s: %w", name, mapErr(err))
	}
	return hsm.ObjectInfo{Name: name, Size: info.Size, ModTime: info.LastModified}, nil
}

// Delete relies on S3's DELETE succeeding for a missing key.
func (v *Volume) Delete(ctx context.Context, name string) error {
	if err := check(ctx, "delete", name); err != nil {
		return err
	}
	err := v.c.RemoveObject(ctx, v.bucket, v.key(name), minio.RemoveObjectOptions{})
	if err = mapErr(err); err != nil && !hsm.IsNotFound(err) {
		return fmt.Errorf("s3vol: delete %s: %w", name, err)
	}
	return nil
}

// List uses ListObjectsV2, which returns keys in UTF-8 binary order; with
// one common prefix stripped, the names keep that order.
func (v *Volume) List(ctx context.Context, prefix string, fn func(hsm.ObjectInfo) error) error {
	if err := hsm.CheckPrefix(prefix); err != nil {
		return fmt.Errorf("s3vol: list: %w", err)
	}
	// Cancel the listing goroutine when fn stops early.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := v.c.ListObjects(lctx, v.bucket, minio.ListObjectsOptions{Prefix: v.key(prefix), Recursive: true})
	for obj := range ch {
		if obj.Err != nil {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("s3vol: list %s: %w", prefix, err)
			}
			return fmt.Errorf("s3vol: list %s: %w", prefix, mapErr(obj.Err))
		}
		name := strings.TrimPrefix(obj.Key, v.prefix)
		if strings.HasSuffix(name, "/") || hsm.CheckName(name) != nil {
			continue // a directory marker or a key no Put could have made
		}
		if err := fn(hsm.ObjectInfo{Name: name, Size: obj.Size, ModTime: obj.LastModified}); err != nil {
			return err
		}
	}
	return nil
}
