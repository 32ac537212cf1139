// Writes small JPEG / PNG / BMP files (stb_image_write) as seeds for fuzz_image_decode:
// gray, RGB and RGBA, odd sizes and 1x1, JPEG at two qualities. Usage: make_image_seeds DIR
#include <cstdio>
#include <string>
#include <vector>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  struct Size { int w, h; };
  const Size sizes[] = {{1, 1}, {3, 5}, {17, 9}, {28, 28}};
  int written = 0;
  for (const Size& s : sizes) {
    for (int c : {1, 3, 4}) {
      std::vector<unsigned char> px(static_cast<size_t>(s.w) * s.h * c);
      for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>((i * 37 + i / 7) & 0xff);
      const std::string stem = dir + "/gen_" + std::to_string(s.w) + "x" + std::to_string(s.h) + "c" + std::to_string(c);
      written += stbi_write_png((stem + ".png").c_str(), s.w, s.h, c, px.data(), s.w * c) != 0;
      written += stbi_write_bmp((stem + ".bmp").c_str(), s.w, s.h, c, px.data()) != 0;
      written += stbi_write_jpg((stem + "_q90.jpg").c_str(), s.w, s.h, c, px.data(), 90) != 0;
      written += stbi_write_jpg((stem + "_q30.jpg").c_str(), s.w, s.h, c, px.data(), 30) != 0;
    }
  }
  std::printf("%d image seeds written to %s\n", written, dir.c_str());
  return written > 0 ? 0 : 1;
}
