package api

func (h *Handler) prototypeRoutes() {}
