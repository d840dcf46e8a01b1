package contract_test

import (
	"testing"

	"github.com/deploybot/deploybot/internal/contract"
)

func TestSearchAttributesAreTheDocumentedKeywords(t *testing.T) {
	want := []string{"DeployApp", "DeployAction", "RequestedBy", "ApprovedBy", "DeployOutcome"}
	got := contract.SearchAttributes()
	if len(got) != len(want) {
		t.Fatalf("got %d search attributes, want %d: %+v", len(got), len(want), got)
	}
	for i, sa := range got {
		if sa.Name != want[i] || sa.Type != "Keyword" {
			t.Errorf("search attribute %d = %+v, want %s Keyword", i, sa, want[i])
		}
	}
}
