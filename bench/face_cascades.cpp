// Face mode's cascade and search settings, measured: for each of opencv-data's
// frontal-face cascades and a few detectMultiScale settings, how often the
// largest detection is the labelled subject's face, and on how many pet photos
// (which have no human face) anything is found. bench/face_cascades.sh runs it.
//
//   bench_face_cascades LABELS PETS_DIR [MAX_PETS] [DRAW_DIR]
// LABELS: one photo per line, "path<TAB>x y w h" (the subject's face box).
// DRAW_DIR: every photo with each cascade's detections drawn (for labelling).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "catdog/face.h"
#include "catdog/plot.h"
#include "catdog/preprocess.h"

namespace fs = std::filesystem;

namespace {

struct LabelledPhoto {
  fs::path file;
  cv::Rect subject;
};

std::vector<LabelledPhoto> read_labels(const fs::path& file) {
  std::vector<LabelledPhoto> photos;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto tab = line.find('\t');
    LabelledPhoto photo{line.substr(0, tab), {}};
    std::istringstream box(line.substr(tab + 1));
    box >> photo.subject.x >> photo.subject.y >> photo.subject.width >> photo.subject.height;
    photos.push_back(photo);
  }
  return photos;
}

double overlap(const cv::Rect& a, const cv::Rect& b) {
  const double shared = (a & b).area();
  return shared / (a.area() + b.area() - shared);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_face_cascades LABELS PETS_DIR [MAX_PETS] [DRAW_DIR]\n";
    return 2;
  }
  const auto photos = read_labels(argv[1]);
  std::vector<fs::path> pets;
  for (const auto& entry : fs::recursive_directory_iterator(argv[2]))
    if (entry.is_regular_file()) pets.push_back(entry.path());
  std::sort(pets.begin(), pets.end());
  if (argc > 3) pets.resize(std::min(pets.size(), static_cast<size_t>(std::stoul(argv[3]))));
  const fs::path draw_dir = argc > 4 ? argv[4] : "";

  std::vector<cv::Mat> photo_images, pet_images;
  for (const auto& photo : photos) photo_images.push_back(catdog::decode_rgb(photo.file));
  for (const auto& pet : pets) pet_images.push_back(catdog::decode_rgb(pet));

  const char* cascades[] = {"haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt.xml",
                            "haarcascade_frontalface_alt2.xml", "haarcascade_frontalface_alt_tree.xml"};
  const cv::Scalar colours[] = {{214, 39, 40}, {31, 119, 180}, {44, 160, 44}, {255, 127, 14}};
  std::vector<cv::Mat> drawn = photo_images;
  for (auto& image : drawn) image = image.clone();

  std::printf("| cascade | minNeighbors | min face | subject found | wrong face | none | pets with a face | pet detections |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (size_t c = 0; c < std::size(cascades); ++c)
    for (int neighbors : {3, 5})
      for (int divisor : {12, 8}) {
        catdog::FaceFinder finder(catdog::find_face_cascade(cascades[c]), {neighbors, 1.0 / divisor});
        int found = 0, wrong = 0, none = 0, pets_hit = 0, pet_faces = 0;
        for (size_t i = 0; i < photos.size(); ++i) {
          const auto faces = finder.faces(photo_images[i]);
          const auto largest = finder.largest_face(photo_images[i]);
          if (!largest)
            ++none;
          else if (overlap(*largest, photos[i].subject) >= 0.4)
            ++found;
          else
            ++wrong;
          if (!draw_dir.empty() && neighbors == 3 && divisor == 12)
            for (const auto& face : faces) cv::rectangle(drawn[i], face, colours[c], 2 + static_cast<int>(c));
        }
        for (const auto& pet : pet_images) {
          const auto faces = finder.faces(pet);
          pets_hit += !faces.empty();
          pet_faces += static_cast<int>(faces.size());
        }
        std::printf("| %s | %d | 1/%d | %d/%zu | %d | %d | %d/%zu | %d |\n", cascades[c], neighbors, divisor, found,
                    photos.size(), wrong, none, pets_hit, pets.size(), pet_faces);
        std::fflush(stdout);
      }
  if (!draw_dir.empty())
    for (size_t i = 0; i < photos.size(); ++i)
      catdog::write_rgb_image(drawn[i], draw_dir / (std::to_string(i) + "-" + photos[i].file.stem().string() + ".png"));
  return 0;
}
