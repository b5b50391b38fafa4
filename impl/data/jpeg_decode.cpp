// JPEG through libjpeg-turbo. libjpeg reports a fatal error by calling error_exit, which by
// default exit()s the process; ours longjmps back to decode_with_libjpeg, and every C++ object
// of the decode lives in its caller (JpegDecode), so the jump skips no destructor.
#include <csetjmp>
#include <cstdio>  // before jpeglib.h, which uses FILE and size_t without including them
#include <cstring>

#include <jpeglib.h>
#include <jerror.h>

#include "common/error.h"
#include "data/image_decode.h"

namespace vae {
namespace {

// A progressive JPEG may hold any number of scans, each one a pass over the whole image; a
// crafted file with thousands of tiny scans takes minutes. Real files have at most a few dozen
// (libjpeg-turbo's own tools stop at 500 for the same reason).
constexpr int kMaxProgressiveScans = 500;

struct JpegErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg hands us &pub, we cast back
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void fail_jpeg(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) are libjpeg recovering from corrupt data: a truncated file comes back as
// "Premature end of JPEG file" with the missing rows grey, and a dataset must not silently
// train on that. Only warnings about metadata that does not touch the pixels pass.
void on_jpeg_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  const int code = cinfo->err->msg_code;
  if (code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC) return;
  fail_jpeg(cinfo);
}

void on_jpeg_progress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number <= kMaxProgressiveScans) return;
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  std::snprintf(err->message, sizeof err->message, "more than %d progressive scans (a malformed file)",
                kMaxProgressiveScans);
  std::longjmp(err->jump, 1);
}

const char* colour_space_name(J_COLOR_SPACE space) {
  switch (space) {
    case JCS_CMYK: return "CMYK";
    case JCS_YCCK: return "YCCK";
    default: return "this colour space";
  }
}

struct JpegDecode {
  const std::string& name;
  const ImageSizeCheck& check;
  JpegErrorManager err;
  jpeg_progress_mgr progress;
  jpeg_decompress_struct cinfo;
  RgbImage image;
};

// Returns false after a libjpeg error (the message is in d.err.message). May throw vae::Error
// from the size check; the caller destroys d.cinfo either way.
bool decode_with_libjpeg(JpegDecode& d, const uint8_t* data, size_t size) {
  if (setjmp(d.err.jump)) return false;
  jpeg_create_decompress(&d.cinfo);
  d.cinfo.progress = &d.progress;
  // libjpeg's source manager takes a non-const pointer but never writes through it.
  jpeg_mem_src(&d.cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  jpeg_read_header(&d.cinfo, TRUE);
  if (d.cinfo.jpeg_color_space == JCS_CMYK || d.cinfo.jpeg_color_space == JCS_YCCK)
    throw Error(d.name + ": " + colour_space_name(d.cinfo.jpeg_color_space) +
                " JPEGs are not supported (convert the file to RGB)");
  check_image_dimensions(d.cinfo.image_width, d.cinfo.image_height, d.name, d.check);
  d.cinfo.out_color_space = JCS_RGB;  // also from greyscale: R = G = B
  d.cinfo.dct_method = JDCT_ISLOW;    // the exact integer IDCT; JDCT_FLOAT could differ between machines
  d.cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&d.cinfo);
  if (d.cinfo.output_components != 3) throw Error(d.name + ": libjpeg did not convert the image to RGB");
  d.image.width = d.cinfo.output_width;
  d.image.height = d.cinfo.output_height;
  d.image.pixels.resize(d.image.width * d.image.height * 3);
  while (d.cinfo.output_scanline < d.cinfo.output_height) {
    JSAMPROW row = d.image.pixels.data() + size_t{d.cinfo.output_scanline} * d.image.width * 3;
    jpeg_read_scanlines(&d.cinfo, &row, 1);
  }
  jpeg_finish_decompress(&d.cinfo);
  return true;
}

}  // namespace

RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name, const ImageSizeCheck& check) {
  JpegDecode d{name, check, {}, {}, {}, {}};
  std::memset(&d.cinfo, 0, sizeof d.cinfo);  // so destroying it is safe whatever point an error came at
  std::memset(&d.progress, 0, sizeof d.progress);
  d.cinfo.err = jpeg_std_error(&d.err.pub);
  d.err.pub.error_exit = fail_jpeg;
  d.err.pub.emit_message = on_jpeg_message;
  d.err.message[0] = '\0';
  d.progress.progress_monitor = on_jpeg_progress;
  bool ok = false;
  try {
    ok = decode_with_libjpeg(d, data, size);
  } catch (...) {
    jpeg_destroy_decompress(&d.cinfo);
    throw;
  }
  jpeg_destroy_decompress(&d.cinfo);
  if (!ok) throw Error(name + ": corrupt or unsupported JPEG: " + d.err.message);
  return std::move(d.image);
}

}  // namespace vae
