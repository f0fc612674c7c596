/* Runs fuzz inputs through fuzz_conn.c without libFuzzer, so every build's
 * ctest replays the seed corpus and past crashes:
 *   fuzz_replay DIR-OR-FILE...
 * Files whose name starts with '.' and README files are skipped. */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t replayed;

/* The input gets a heap block of exactly its size, as under libFuzzer, so
 * AddressSanitizer catches a read past its end. */
static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  struct stat st;
  uint8_t *data = NULL;
  size_t size = 0;
  if (f != NULL && fstat(fileno(f), &st) == 0) {
    size = (size_t)st.st_size;
    data = malloc(size ? size : 1);
    if (data != NULL && fread(data, 1, size, f) != size)
      free(data), data = NULL;
  }
  if (f != NULL)
    fclose(f);
  if (data == NULL) {
    fprintf(stderr, "%s: cannot read it\n", path);
    return -1;
  }
  printf("%s\n", path);
  fflush(stdout); /* a crash names its input */
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  replayed++;
  return 0;
}

static int is_input(const struct dirent *e) {
  return e->d_name[0] != '.' && strcmp(e->d_name, "README") != 0;
}

static int replay_dir(const char *dir) {
  struct dirent **names;
  int n = scandir(dir, &names, is_input, alphasort);
  if (n < 0) {
    perror(dir);
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
    if (rc == 0)
      rc = replay_file(path);
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    struct stat st;
    bool dir = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode);
    if ((dir ? replay_dir(argv[i]) : replay_file(argv[i])) < 0)
      return 1;
  }
  printf("%zu inputs replayed\n", replayed);
  return 0;
}
