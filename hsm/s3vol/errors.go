package s3vol

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/minio/minio-go/v7"

	"github.com/tidemark/tidemark/hsm"
)

// mapErr is the one place S3 errors become hsm errors. minio-go's
// ToErrorResponse only looks at the outermost error, so errors.As is used.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		// No S3 answer at all: connection refused, reset, DNS, timeout.
		return hsm.Temporary(err)
	}
	switch er.Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%w: %v", hsm.ErrNotFound, err)
	case "NoSuchBucket":
		return hsm.Permanent(err)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled":
		return fmt.Errorf("%w: %v", hsm.ErrPermission, err)
	case "InvalidRange":
		return fmt.Errorf("%w: %v", hsm.ErrInvalidRange, err)
	case "SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable",
		"PreconditionFailed": // the object changed between stat and read
		return hsm.Temporary(err)
	}
	switch s := er.StatusCode; {
	case s == http.StatusNotFound:
		return fmt.Errorf("%w: %v", hsm.ErrNotFound, err)
	case s == http.StatusForbidden || s == http.StatusUnauthorized:
		return fmt.Errorf("%w: %v", hsm.ErrPermission, err)
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500 || s == 0:
		return hsm.Temporary(err)
	}
	return hsm.Permanent(err)
}
