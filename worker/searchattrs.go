package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/deploybot/deploybot/internal/contract"
)

// CheckSearchAttributes makes sure namespace declares every search
// attribute the workflows upsert (contract.SearchAttributes) with its type.
// A run that upserts an undeclared one fails its workflow task over and
// over, so a worker that would run such runs refuses to start, naming the
// command that fixes it. When the list itself cannot be read (an API key
// without operator rights) it only warns on log.
func CheckSearchAttributes(ctx context.Context, tc client.Client, namespace string, log *slog.Logger) error {
	resp, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		log.Warn("could not list the namespace's search attributes to check deploybot's are declared; carrying on", "namespace", namespace, "error", err)
		return nil
	}
	var missing, fixes []string
	for _, sa := range contract.SearchAttributes() {
		want, ok := enumspb.IndexedValueType_shorthandValue[sa.Type]
		if !ok {
			return fmt.Errorf("worker: search attribute %s has unknown type %q", sa.Name, sa.Type)
		}
		got, declared := resp.GetCustomAttributes()[sa.Name]
		switch {
		case !declared:
			missing = append(missing, sa.Name+" ("+sa.Type+")")
		case got != enumspb.IndexedValueType(want):
			missing = append(missing, fmt.Sprintf("%s (declared %s, must be %s: it cannot be changed in place; see docs/operations.md)", sa.Name, got, sa.Type))
			continue
		default:
			continue
		}
		fixes = append(fixes, fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type %s", namespace, sa.Name, sa.Type))
	}
	if len(missing) == 0 {
		return nil
	}
	msg := fmt.Sprintf("Temporal namespace %s lacks deploybot's search attributes %s: runs would fail their workflow tasks until they exist", namespace, strings.Join(missing, ", "))
	if len(fixes) > 0 {
		msg += "; declare them (Temporal Cloud: tcld or the Cloud UI):\n  " + strings.Join(fixes, "\n  ")
	}
	return fmt.Errorf("%s", msg)
}
