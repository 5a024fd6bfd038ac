package azureemu

import (
	"net/http"
	"slices"
	"strings"
)

// serveCompute answers VM, VMSS and VMSS-instance GETs for the current node.
func (e *Emulator) serveCompute(w http.ResponseWriter, r *http.Request, ap armPath) {
	vm := e.currentVM()
	if vm == nil || !strings.EqualFold(ap.sub, vm.SubscriptionID) || !strings.EqualFold(ap.rg, vm.ResourceGroup) {
		armNotFound(w, ap)
		return
	}
	expand := strings.EqualFold(r.URL.Query().Get("$expand"), "instanceView")
	switch {
	case slices.Equal(ap.types, []string{"virtualmachines"}) && len(ap.names) == 1 &&
		vm.VMSSName == "" && strings.EqualFold(ap.names[0], vm.Name):
		writeJSON(w, http.StatusOK, e.vmDoc(vm, vm.ResourceID, expand))
	case slices.Equal(ap.types, []string{"virtualmachinescalesets"}) && len(ap.names) == 1 &&
		vm.VMSSName != "" && strings.EqualFold(ap.names[0], vm.VMSSName):
		writeJSON(w, http.StatusOK, e.vmssDoc(vm))
	case slices.Equal(ap.types, []string{"virtualmachinescalesets", "virtualmachines"}) && len(ap.names) == 2 &&
		vm.VMSSName != "" && strings.EqualFold(ap.names[0], vm.VMSSName) &&
		strings.EqualFold(strings.TrimLeft(r.URL.Path, "/"), strings.TrimLeft(vm.ResourceID, "/")):
		writeJSON(w, http.StatusOK, e.vmDoc(vm, vm.ResourceID, expand))
	default:
		armNotFound(w, ap)
	}
}

// identityDoc is ARM's managed-identity section for a compute resource.
func (e *Emulator) identityDoc(vm *VM) map[string]any {
	doc := map[string]any{}
	var types []string
	if vm.SystemIdentity != nil {
		types = append(types, "SystemAssigned")
		doc["principalId"] = vm.SystemIdentity.ObjectID
		doc["tenantId"] = e.tenant
	}
	uai := map[string]any{}
	for _, id := range e.attachedIdentities(vm) {
		if id.ResourceID != "" {
			uai[id.ResourceID] = map[string]string{"principalId": id.ObjectID, "clientId": id.ClientID}
		}
	}
	if len(uai) > 0 {
		types = append(types, "UserAssigned")
		doc["userAssignedIdentities"] = uai
	}
	if len(types) == 0 {
		return map[string]any{"type": "None"}
	}
	doc["type"] = strings.Join(types, ", ")
	return doc
}

func (e *Emulator) vmDoc(vm *VM, id string, expand bool) map[string]any {
	props := map[string]any{
		"vmId":              vm.VMID,
		"provisioningState": "Succeeded",
		"hardwareProfile":   map[string]string{"vmSize": "Standard_D4s_v5"},
		"osProfile":         map[string]string{"computerName": vm.Name, "adminUsername": "azureuser"},
	}
	if expand {
		props["instanceView"] = map[string]any{
			"computerName": vm.Name, "osName": "ubuntu", "osVersion": "22.04",
			"statuses": []any{
				map[string]string{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded"},
				map[string]string{"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"},
			},
		}
	}
	return map[string]any{
		"id": id, "name": vm.Name, "type": "Microsoft.Compute/virtualMachines",
		"location": vm.Location, "identity": e.identityDoc(vm), "properties": props,
	}
}

func (e *Emulator) vmssDoc(vm *VM) map[string]any {
	id := "/subscriptions/" + vm.SubscriptionID + "/resourceGroups/" + vm.ResourceGroup +
		"/providers/Microsoft.Compute/virtualMachineScaleSets/" + vm.VMSSName
	return map[string]any{
		"id": id, "name": vm.VMSSName, "type": "Microsoft.Compute/virtualMachineScaleSets",
		"location": vm.Location, "identity": e.identityDoc(vm),
		"sku": map[string]any{"name": "Standard_D4s_v5", "tier": "Standard", "capacity": 1},
		"properties": map[string]any{
			"orchestrationMode": "Uniform", "provisioningState": "Succeeded",
			"uniqueId": vm.VMID, "upgradePolicy": map[string]string{"mode": "Manual"},
		},
	}
}

// serveIdentity answers user-assigned identity GET and list-by-resource-group.
func (e *Emulator) serveIdentity(w http.ResponseWriter, ap armPath) {
	if len(ap.types) != 1 || ap.types[0] != "userassignedidentities" || ap.rg == "" {
		armNotFound(w, ap)
		return
	}
	var matches []any
	for _, id := range e.allIdentities() {
		ip, ok := parseARMPath(id.ResourceID)
		if !ok || !strings.EqualFold(ip.sub, ap.sub) || !strings.EqualFold(ip.rg, ap.rg) || len(ip.names) != 1 ||
			!slices.Equal(ip.types, ap.types) {
			continue
		}
		if len(ap.names) == 0 {
			matches = append(matches, e.userIdentityDoc(id, ip.names[0]))
		} else if strings.EqualFold(ip.names[0], ap.names[0]) {
			writeJSON(w, http.StatusOK, e.userIdentityDoc(id, ip.names[0]))
			return
		}
	}
	if len(ap.names) > 0 {
		armNotFound(w, ap)
		return
	}
	if matches == nil {
		matches = []any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": matches})
}

func (e *Emulator) userIdentityDoc(id Identity, name string) map[string]any {
	return map[string]any{
		"id": id.ResourceID, "name": name, "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
		"location": e.location(), "tags": map[string]string{},
		"properties": map[string]string{"tenantId": e.tenant, "principalId": id.ObjectID, "clientId": id.ClientID},
	}
}
