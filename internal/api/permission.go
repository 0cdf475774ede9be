package api

func (h *Handler) permissionRoutes() {}
