package api

func (h *Handler) appTokenRoutes() {}
