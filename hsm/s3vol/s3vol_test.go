package s3vol_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/s3vol"
	"github.com/tidemark/tidemark/hsm/s3vol/s3test"
	"github.com/tidemark/tidemark/hsm/volumetest"
)

// TestConformance runs the suite against versitygw, each subtest under its
// own prefix of one bucket, as servers sharing a bucket would.
func TestConformance(t *testing.T) {
	srv := s3test.StartServer(t)
	var n atomic.Int64
	volumetest.Run(t, func(t *testing.T) hsm.Volume {
		o := srv.Options()
		o.Prefix = fmt.Sprintf("server%d", n.Add(1))
		v, err := s3vol.New(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
}
