package provider

import (
	"context"
	"encoding/json"
	"fmt"

	vault "github.com/hashicorp/vault/api"
	"golang.org/x/sync/errgroup"

	"github.com/vaultazure/vault-azure-csi-provider/provider/params"
	"github.com/vaultazure/vault-azure-csi-provider/provider/secrets"
)

// fetchObjects reads the objects in parallel (bounded), making one Vault call
// per distinct request, and returns their contents in object order. Any error
// fails the whole Mount: the driver never gets a partial set.
func (p *Provider) fetchObjects(ctx context.Context, c *vault.Client, objs []params.Object) ([][]byte, error) {
	reqIndex := map[string]int{}
	var reqs []secrets.Request
	objReq := make([]int, len(objs))
	for i, obj := range objs {
		r := secrets.RequestFor(obj)
		k, _ := json.Marshal(r)
		idx, ok := reqIndex[string(k)]
		if !ok {
			idx = len(reqs)
			reqIndex[string(k)] = idx
			reqs = append(reqs, r)
		}
		objReq[i] = idx
	}
	responses := make([]*vault.Secret, len(reqs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.cfg.ObjectConcurrency)
	for i, r := range reqs {
		g.Go(func() error {
			s, err := p.reader.Read(gctx, c, r)
			if err != nil {
				return err
			}
			responses[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	contents := make([][]byte, len(objs))
	for i, obj := range objs {
		b, err := secrets.Content(responses[objReq[i]], obj)
		if err != nil {
			return nil, &ContentError{Index: i, Err: err}
		}
		contents[i] = b
	}
	return contents, nil
}

// ContentError is an object whose Vault response lacks what it asks for.
type ContentError struct {
	Index int
	Err   error
}

func (e *ContentError) Error() string { return fmt.Sprintf("objects[%d]: %v", e.Index, e.Err) }
func (e *ContentError) Unwrap() error { return e.Err }
