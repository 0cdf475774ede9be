package api

func (h *Handler) organizationRoutes() {}
