/* The echo as a blocking application (UNIXCORN_APP_BLOCKING): the same answer
 * as the built-in event echo, but each request runs on a --threads thread,
 * whose calls are gathered there and handed over to the event loop at
 * unixcorn_end. Its rows next to the built-in echo's price that hand-over. */
#include <unixcorn/app.h>

static int echo(unixcorn_request *r) {
  unixcorn_str mem, type;
  int fd;
  uint64_t len;
  size_t from = 0;
  if (!unixcorn_header_next(r, "Content-Type", &from, &type) || type.len == 0)
    type.ptr = "application/octet-stream", type.len = 24;
  int rc = unixcorn_body(r, &mem, &fd, &len);
  if (rc == 0)
    rc = unixcorn_respond(r, 200);
  if (rc == 0)
    rc = unixcorn_add_header(r, "Content-Type", 12, type.ptr, type.len);
  if (rc == 0)
    rc = unixcorn_set_length(r, len);
  if (rc == 0 && len > 0)
    rc = fd >= 0 ? unixcorn_write_file(r, fd, 0, len) : unixcorn_write(r, mem.ptr, len);
  return rc == 0 && unixcorn_end(r) == 0 ? 0 : 500;
}

const struct unixcorn_app unixcorn_app = {
    .version = UNIXCORN_APP_VERSION,
    .name = "echo_blocking",
    .flags = UNIXCORN_APP_BLOCKING,
    .on_request = echo,
};
