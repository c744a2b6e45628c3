// The API edge's mapping from vigie::Error to a Matrix error response.
#pragma once

#include "common/error.h"
#include "http/message.h"

namespace vigie::api {

// errcode and HTTP status for an error code (status_override wins).
std::pair<const char*, int> MatrixErrcode(const Error& e);
http::Response ErrorResponse(const Error& e);

}  // namespace vigie::api
