package capability

import (
	"reflect"
	"testing"

	"github.com/tetherhq/tether/models"
)

func TestToxicPaths(t *testing.T) {
	tool := func(ls ...models.Label) models.ToolSpec { return models.ToolSpec{Name: "t", Labels: ls} }
	tests := []struct {
		name string
		spec models.AgentSpec
		want []ToxicPath
	}{
		{"none", models.AgentSpec{Tools: []models.ToolSpec{tool(models.LabelPrivateData)}}, nil},
		{"trifecta emergent", models.AgentSpec{Tools: []models.ToolSpec{tool(models.LabelUntrustedContent), tool(models.LabelPrivateData, models.LabelPublicSink)}},
			[]ToxicPath{{PathTrifecta, false}, {PathPrivateToSink, false}}},
		{"designed export", models.AgentSpec{Tools: []models.ToolSpec{tool(models.LabelPrivateData), tool(models.LabelPublicSink)}, DesignedFlows: []string{PathPrivateToSink}},
			[]ToxicPath{{PathPrivateToSink, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ToxicPaths(&tt.spec); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ToxicPaths = %v, want %v", got, tt.want)
			}
		})
	}
}
