package dashboard

import (
	"net/http"

	"tapioca/views"
)

// adminDeployments lists the newest deploy notifications of projects.
func (d *Door) adminDeployments(w http.ResponseWriter, r *http.Request, ar *adminReq) error {
	ds, err := d.Projects.Deliveries(r.Context(), ar.actor(), 100)
	if err != nil {
		return err
	}
	var dd views.DeploymentsData
	for _, dl := range ds {
		row := views.DeployRow{ID: dl.ID, GUID: dl.GUID, Project: dl.OwnerName + "/" + dl.ProjectName, Instance: dl.InstanceName,
			Branch: dl.Branch, OldSHA: dl.OldSHA, NewSHA: dl.NewSHA, Status: dl.Status, Attempts: dl.Attempts,
			Error: dl.LastError, At: dl.LastAttemptAt}
		if dl.StatusCode != 0 {
			code := dl.StatusCode
			row.Code = &code
		}
		if row.At == nil {
			created := dl.CreatedAt
			row.At = &created
		}
		if dl.Status == "succeeded" {
			row.Error = ""
		}
		dd.Deliveries = append(dd.Deliveries, row)
	}
	d.render(w, r, http.StatusOK, views.DeploymentsPage(d.page(ar, "deployments", "Deploy notifications"), dd))
	return nil
}
