package api

func (h *Handler) robotRoutes() {}
