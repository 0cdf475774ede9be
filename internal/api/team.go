package api

func (h *Handler) teamRoutes() {}
