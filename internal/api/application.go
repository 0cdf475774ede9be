package api

func (h *Handler) applicationRoutes() {}
